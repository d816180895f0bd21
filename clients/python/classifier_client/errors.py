"""Errors the client raises: one class per gRPC status the gateway answers with.

    ClassifierError             any failed call; ``code`` and ``details`` as the server sent them
    ├── InvalidArgument         INVALID_ARGUMENT: bad, too large or wrong-kind input; fix the request
    ├── Unauthenticated         UNAUTHENTICATED: no API key, or not a valid one (``api_key=``)
    ├── PermissionDenied        PERMISSION_DENIED: the API key lacks the scope the call needs
    ├── NotFound                NOT_FOUND: no such model, version or version label
    ├── Overloaded              RESOURCE_EXHAUSTED: the gateway is at capacity, or the key is over its
    │                           rate; retry later
    ├── Unavailable             UNAVAILABLE: not ready or unreachable (retried by the client first)
    └── DeadlineExceeded        DEADLINE_EXCEEDED: no answer within the deadline

The client raises them ``from`` the ``grpc.RpcError``, which stays reachable as ``__cause__``.
"""

from __future__ import annotations

import grpc


class ClassifierError(Exception):
    """A call failed; ``code`` is the gRPC status, ``details`` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class InvalidArgument(ClassifierError):
    """The request is malformed, too large, or does not fit the model."""


class Unauthenticated(ClassifierError):
    """The gateway wants a valid API key."""


class PermissionDenied(ClassifierError):
    """The API key is valid but lacks the scope the call needs."""


class NotFound(ClassifierError):
    """No such model, version or version label."""


class Overloaded(ClassifierError):
    """The gateway refused the request because it is at capacity."""


class Unavailable(ClassifierError):
    """The gateway, the model or its backend cannot answer now."""


class DeadlineExceeded(ClassifierError):
    """The deadline passed before an answer arrived."""


_BY_CODE: dict[grpc.StatusCode, type[ClassifierError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}
_BY_NUMBER: dict[int, grpc.StatusCode] = {code.value[0]: code for code in grpc.StatusCode}


def error_for(code: grpc.StatusCode, details: str) -> ClassifierError:
    """The error class for ``code``, built with the server's message."""
    return _BY_CODE.get(code, ClassifierError)(code, details)


def error_for_number(number: int, details: str) -> ClassifierError:
    """Like ``error_for``, from the numeric code a stream's ``Error`` message carries."""
    return error_for(_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN), details)


def from_rpc_error(exc: grpc.RpcError) -> ClassifierError:
    """The client error for a failed call (sync ``grpc.Call`` or ``grpc.aio.AioRpcError``)."""
    code = exc.code() if callable(getattr(exc, "code", None)) else grpc.StatusCode.UNKNOWN
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    return error_for(code, details or "")
