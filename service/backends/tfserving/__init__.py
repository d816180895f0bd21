"""The TensorFlow Serving backend: a gRPC client of TF Serving that imports no TensorFlow.

See ``backend`` for what it asks TF Serving and what it caches, ``client`` for the channel, deadlines,
retries and error mapping, and ``service.tfserving_wire`` for the messages.
"""

from service.backends.tfserving.backend import TFServingBackend

__all__ = ["TFServingBackend"]
