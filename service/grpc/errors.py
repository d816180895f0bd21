"""The one place where gateway errors become gRPC statuses.

``status_of`` maps an exception: a ``ServiceError`` to ``grpc.StatusCode[err.grpc_code]`` with its
detail; anything else to INTERNAL "internal error", with the traceback in the log only.
``ErrorInterceptor`` (grpc-interceptor's exception-to-status interceptor) applies it to every method of
the classifier service, so servicer methods just raise; ``ClassifyStream`` uses ``status_of`` for the
per-request errors it answers in the stream.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc
from grpc_interceptor.exception_to_status import AsyncExceptionToStatusInterceptor

from service.errors import ServiceError, is_internal

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/classifier.v1.Classifier/"


def status_of(exc: Exception) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for ``exc``; logs unexpected errors with their traceback."""
    if isinstance(exc, ServiceError) and not is_internal(exc):
        return grpc.StatusCode[exc.grpc_code], exc.detail
    log.error("unexpected error in a gRPC call", exc_info=exc)
    return grpc.StatusCode.INTERNAL, "internal error"


class ErrorInterceptor(AsyncExceptionToStatusInterceptor):
    """Aborts a classifier call that raised with ``status_of``; other services' errors pass unchanged."""

    async def handle_exception(
        self, ex: Exception, _request: Any, context: grpc.aio.ServicerContext, method_name: str
    ) -> NoReturn:
        if isinstance(ex, grpc.aio.AbortError) or not method_name.startswith(SERVICE_PREFIX):
            raise ex  # the servicer aborted on purpose, or not ours to map
        code, message = status_of(ex)
        await context.abort(code, message)
        raise AssertionError("abort() ends the call by raising")
