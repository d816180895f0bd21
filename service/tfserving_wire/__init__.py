"""TF Serving's wire messages without TensorFlow: a minimal, byte-compatible message set.

``tensor.proto``, ``model.proto``, ``predict.proto``, ``get_model_status.proto`` and
``model_server_config.proto`` declare just the messages and fields the gateway uses, with TensorFlow
Serving's field numbers and types, under the proto package ``tfserving_wire``. The package name differs
from TF Serving's (``tensorflow.serving``) so these modules and the official ``tensorflow_serving.apis``
ones can be imported into one process without clashing in protobuf's default descriptor pool; package
names never travel on the wire, method paths do, so the backend calls TF Serving's paths below directly.
Byte compatibility in both directions is proven in ``tests/service/tfserving/test_wire_compat.py``.

The ``*_pb2`` modules are generated (``make tfserving-proto``) and committed; ``tensors`` converts
between NumPy arrays and ``TensorProto`` for these messages and the official ones alike.
"""

#: Full gRPC method paths of TF Serving's services (``tensorflow_serving/apis/*_service.proto``).
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
GET_MODEL_STATUS_METHOD = "/tensorflow.serving.ModelService/GetModelStatus"
