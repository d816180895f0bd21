"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays these ``PredictionLog`` records when it loads a version, so the first real
request does not pay for graph initialisation. They are built from real, preprocessed samples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from features.contract import SERVING_SIGNATURE, check_batch
from features.spec import ModelSpec

#: TF Serving replays every record; a handful covers batch sizes 1 and a small batch.
MAX_WARMUP_SAMPLES = 4


def warmup_logs(spec: ModelSpec, inputs: npt.ArrayLike) -> list[prediction_log_pb2.PredictionLog]:
    """Predict requests for ``serving_default``: one per sample (batch 1), then one small batch."""
    features = spec.features
    batch = check_batch(np.asarray(inputs, dtype=features.input_dtype)[:MAX_WARMUP_SAMPLES], features)
    requests = [batch[i : i + 1] for i in range(len(batch))]
    if len(batch) > 1:
        requests.append(batch)
    logs = []
    for rows in requests:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = spec.name
        request.model_spec.signature_name = SERVING_SIGNATURE
        request.inputs[features.input_name].CopyFrom(tf.make_tensor_proto(rows))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    return logs


def write_warmup_requests(path: Path, spec: ModelSpec, inputs: npt.ArrayLike) -> Path:
    """Write the warm-up TFRecord file to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for log in warmup_logs(spec, inputs):
            writer.write(log.SerializeToString())
    return path
