"""The gateway's errors: one hierarchy, mapped to HTTP status and gRPC code in one table.

    ServiceError                    500 INTERNAL            the base; raised bare, it is treated as internal
    ├── InternalError               500 INTERNAL            a fault of ours or the backend's (generic message
    │                                                       to clients, detail in the log only)
    ├── InvalidInput                400 INVALID_ARGUMENT    malformed input: bad base64, undecodable bytes,
    │                                                       wrong input kind for the model's modality
    ├── Unauthenticated             401 UNAUTHENTICATED     no API key, or not a valid one
    ├── PermissionDenied            403 PERMISSION_DENIED   the key lacks the scope the call needs
    ├── NotFound                    404 NOT_FOUND
    │   ├── ModelNotFound
    │   ├── VersionNotFound
    │   └── LabelNotFound
    ├── RequestTimeout              408 DEADLINE_EXCEEDED   the request body did not arrive in time
    ├── Conflict                    409 FAILED_PRECONDITION the action does not fit the current state (a
    │                                                       rollout candidate not AVAILABLE, nothing to promote)
    ├── PayloadTooLarge             413 INVALID_ARGUMENT    body, instances, pixels, seconds, characters
    ├── UnsupportedMediaType        415 INVALID_ARGUMENT
    ├── SchemaViolation             422 INVALID_ARGUMENT    the request does not match its schema
    ├── Overloaded                  429 RESOURCE_EXHAUSTED  queue full, expected wait past the deadline or
    │                                                       the latency target, byte budget spent; retry later
    ├── QuotaExceeded               429 RESOURCE_EXHAUSTED  the key is over its rate; retry after ``retry_after_s``
    ├── Unavailable                 503 UNAVAILABLE
    │   ├── ModelNotReady           no AVAILABLE version yet, or it is unloading
    │   └── BackendUnavailable      the backend (TF Serving) cannot be reached
    └── DeadlineExceeded            504 DEADLINE_EXCEEDED

Surfaces read ``http_status`` and ``grpc_code`` (a ``grpc.StatusCode`` name) from the class; this module
imports no transport library.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar


class ServiceError(Exception):
    """Base of every error the gateway reports; unknown exceptions are reported as this."""

    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[str] = "INTERNAL"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @classmethod
    def type_slug(cls) -> str:
        """A stable identifier of the error kind, used in problem+json ``type`` URIs."""
        return _slug(cls.__name__)


@functools.cache
def _slug(name: str) -> str:
    # Once per class: a refusal under overload asks for its slug a thousand times a second.
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


class InternalError(ServiceError):
    """A fault inside the gateway or its backend; clients get a generic message, the log gets the detail."""


def is_internal(exc: BaseException) -> bool:
    """Whether ``exc`` must reach a client as the generic internal error: anything not one of ours, an
    ``InternalError``, or a bare ``ServiceError``."""
    return not isinstance(exc, ServiceError) or isinstance(exc, InternalError) or type(exc) is ServiceError


class InvalidInput(ServiceError):
    """The input is malformed or does not fit the model."""

    http_status = 400
    grpc_code = "INVALID_ARGUMENT"
    title = "Invalid input"


class Unauthenticated(ServiceError):
    """The caller did not present valid credentials."""

    http_status = 401
    grpc_code = "UNAUTHENTICATED"
    title = "Unauthenticated"


class PermissionDenied(ServiceError):
    """The caller is known but its key lacks the scope the call needs."""

    http_status = 403
    grpc_code = "PERMISSION_DENIED"
    title = "Permission denied"


class NotFound(ServiceError):
    """A named thing does not exist."""

    http_status = 404
    grpc_code = "NOT_FOUND"
    title = "Not found"


class ModelNotFound(NotFound):
    """No model of that name."""

    title = "Model not found"


class VersionNotFound(NotFound):
    """The model has no such version (or it is not served)."""

    title = "Version not found"


class LabelNotFound(NotFound):
    """The model has no such version label."""

    title = "Version label not found"


class RequestTimeout(ServiceError):
    """The client did not send its request body within the connection's time limits."""

    http_status = 408
    grpc_code = "DEADLINE_EXCEEDED"
    title = "Request timeout"


class Conflict(ServiceError):
    """The action does not fit the current state, e.g. a rollout candidate that is not AVAILABLE."""

    http_status = 409
    grpc_code = "FAILED_PRECONDITION"
    title = "Conflict"


class PayloadTooLarge(ServiceError):
    """The request or one input exceeds a configured limit."""

    http_status = 413
    grpc_code = "INVALID_ARGUMENT"
    title = "Payload too large"


class UnsupportedMediaType(ServiceError):
    """The request's content type is not one the endpoint accepts."""

    http_status = 415
    grpc_code = "INVALID_ARGUMENT"
    title = "Unsupported media type"


class SchemaViolation(ServiceError):
    """The request does not match its schema; ``extra["errors"]`` lists where."""

    http_status = 422
    grpc_code = "INVALID_ARGUMENT"
    title = "Request does not match the schema"


class Overloaded(ServiceError):
    """The gateway is at capacity; the caller should retry later."""

    http_status = 429
    grpc_code = "RESOURCE_EXHAUSTED"
    title = "Overloaded"


class QuotaExceeded(ServiceError):
    """The caller's key is over its request rate; ``retry_after_s`` says when a request will be let in."""

    http_status = 429
    grpc_code = "RESOURCE_EXHAUSTED"
    title = "Rate limit exceeded"

    def __init__(self, detail: str, *, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class Unavailable(ServiceError):
    """The service cannot answer right now."""

    http_status = 503
    grpc_code = "UNAVAILABLE"
    title = "Unavailable"


class ModelNotReady(Unavailable):
    """The model has no AVAILABLE version yet, or the version is being unloaded."""

    title = "Model not ready"


class BackendUnavailable(Unavailable):
    """The model backend cannot be reached."""

    title = "Backend unavailable"


class DeadlineExceeded(ServiceError):
    """The request's deadline passed before an answer was ready."""

    http_status = 504
    grpc_code = "DEADLINE_EXCEEDED"
    title = "Deadline exceeded"
