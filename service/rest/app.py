"""``create_app(settings, classifier, metrics)``: the REST surface, assembled explicitly, nothing at import time."""

from __future__ import annotations

from fastapi import FastAPI

from service.core.classifier import Classifier
from service.metrics import Metrics
from service.rest.body_guard import BodyGuardMiddleware, ShutdownSignal
from service.rest.body_limit import BodyLimitMiddleware
from service.rest.openapi import install_openapi
from service.rest.problems import ErrorBoundaryMiddleware, install_problem_handlers
from service.rest.routes_classify import classify_router
from service.rest.routes_health import health_router
from service.rest.routes_models import models_router
from service.settings import Settings
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
    app.state.settings = settings
    app.state.classifier = classifier
    app.state.metrics = metrics
    # RestServer.stop sets it: bodies still arriving get a short grace, then 503.
    app.state.shutdown = ShutdownSignal(settings.connections.shutdown_body_grace_s)

    app.include_router(models_router(classifier))
    app.include_router(classify_router(settings, classifier, metrics))
    app.include_router(health_router(classifier, metrics))
    mount_page(app)  # the browser page at "/" and its assets under "/ui/" (owned by service/web)

    install_problem_handlers(app)
    install_openapi(app)
    # add_middleware wraps what is there, so the error boundary added last is outermost: it also
    # answers the 413 that the body limit raises before any route runs, and the 429/408/503 of the
    # body guard, which only sees bodies within the limit.
    app.add_middleware(
        BodyGuardMiddleware, budget=classifier.budget, limits=settings.connections, shutdown=app.state.shutdown
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    app.add_middleware(ErrorBoundaryMiddleware)
    return app
