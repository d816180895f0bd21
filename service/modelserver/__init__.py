"""A local, TF-Serving-compatible model server over the embedded backend (development and tests).

Production runs ``tensorflow_model_server`` (the ``tensorflow/serving`` image, see docker-compose.yml);
this server speaks the same gRPC API (``tensorflow.serving.PredictionService/Predict`` and
``tensorflow.serving.ModelService/GetModelStatus``, the official messages) where TF Serving cannot be
installed, so the gateway's TF Serving mode runs and is tested end to end anywhere.
"""
