"""Python client of the classifier gateway's gRPC API (``classifier.v1.Classifier``).

Depends only on grpcio and protobuf. ``ClassifierClient`` blocks, ``AsyncClassifierClient`` uses
grpc.aio; both return the dataclasses of ``results`` and raise the errors of ``errors``. The generated
messages and stubs live in ``classifier_client.v1`` (the gateway imports them from there too).
"""

from classifier_client.client import AsyncClassifierClient, ClassifierClient, StreamItem
from classifier_client.errors import (
    ClassifierError,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Overloaded,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
)
from classifier_client.messages import build_request
from classifier_client.results import ClassifyResult, InputLimits, ModelInfo, Prediction, ScoredLabel, VersionInfo
from classifier_client.retry import NO_RETRY, RetryPolicy

__all__ = [
    "NO_RETRY",
    "AsyncClassifierClient",
    "ClassifierClient",
    "ClassifierError",
    "ClassifyResult",
    "DeadlineExceeded",
    "InputLimits",
    "InvalidArgument",
    "ModelInfo",
    "NotFound",
    "Overloaded",
    "PermissionDenied",
    "Prediction",
    "RetryPolicy",
    "ScoredLabel",
    "StreamItem",
    "Unauthenticated",
    "Unavailable",
    "VersionInfo",
    "build_request",
]
