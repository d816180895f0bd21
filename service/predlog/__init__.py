"""``python -m service.predlog``: tools over the prediction log (``service.observability.prediction_log``)."""
