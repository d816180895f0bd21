"""``create_app(settings, classifier, metrics)``: the REST surface, assembled explicitly, nothing at import time."""

from __future__ import annotations

from fastapi import FastAPI

from service.core.classifier import Classifier
from service.metrics import Metrics
from service.observability.asgi import RequestContextMiddleware
from service.rest.body_limit import BodyLimitMiddleware
from service.rest.openapi import install_openapi
from service.rest.problems import ErrorBoundaryMiddleware, install_problem_handlers
from service.rest.routes_classify import classify_router
from service.rest.routes_health import health_router
from service.rest.routes_models import models_router
from service.settings import Settings
from service.v2.dataplane import V2DataPlane
from service.v2.errors import V2ErrorBodyMiddleware
from service.v2.rest import v2_router
from service.web import mount as mount_page

DESCRIPTION = """\
Image, text and speech classification. Every model is served by version (TF Serving layout);
each answer names the version that produced it. Errors are `application/problem+json` (RFC 9457).

Classify bodies: JSON `{"instances": [{"text": ...} | {"b64": ...}], "top_k": k}`,
`multipart/form-data` with `file` parts and `text` fields, or one raw `image/*`, `audio/wav` or
`text/plain` body. Deadline: the `X-Request-Timeout` header, in seconds.
"""


def create_app(settings: Settings, classifier: Classifier, metrics: Metrics) -> FastAPI:
    """The FastAPI app over one classify core; the caller owns the core's and backend's life cycle."""
    app = FastAPI(title="Classifier gateway", version="1", description=DESCRIPTION)
    app.include_router(models_router(classifier))
    app.include_router(classify_router(settings, classifier, metrics))
    app.include_router(health_router(classifier, metrics))
    app.include_router(v2_router(V2DataPlane(classifier), metrics))  # the Open Inference Protocol (V2)
    mount_page(app)  # the browser page at "/" and its assets under "/ui/" (owned by service/web)

    install_problem_handlers(app)
    install_openapi(app)
    # add_middleware wraps what is there, so the error boundary added last is outermost: it also
    # answers the 413 that the body limit raises before any route runs.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    app.add_middleware(ErrorBoundaryMiddleware)
    # Outermost: V2 answers every problem on a /v2 path, whoever raised it, in V2's {"error": ...} body.
    app.add_middleware(V2ErrorBodyMiddleware)
    # Outermost of all: the request id is bound before any layer can log or answer an error.
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
