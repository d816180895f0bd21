"""``create_app(settings, classifier, metrics)``: the REST surface, assembled explicitly, nothing at import time."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.middleware.cors import CORSMiddleware

from service.auth.access import AccessControl, access_control_for
from service.core.classifier import Classifier
from service.metrics import Metrics
from service.observability.asgi import RequestContextMiddleware
from service.rest.auth import AuthMiddleware
from service.rest.body_guard import BodyGuardMiddleware, ShutdownSignal
from service.rest.body_limit import BodyLimitMiddleware
from service.rest.classify_lane import ClassifyLane
from service.rest.openapi import install_openapi
from service.rest.problems import ErrorBoundaryMiddleware, install_problem_handlers
from service.rest.routes_classify import classify_router
from service.rest.routes_health import health_router
from service.rest.routes_models import models_router
from service.rest.routes_rollout import rollout_router
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


def create_app(
    settings: Settings, classifier: Classifier, metrics: Metrics, *, access: AccessControl | None = None
) -> FastAPI:
    """The FastAPI app over one classify core; the caller owns the core's and backend's life cycle.

    ``access``: API-key checks (the gateway passes the one it keeps reloaded); without it, a keys file in
    the settings is read once here, so authentication can never be silently off.
    """
    if access is None and settings.auth.keys_file is not None:
        access = access_control_for(settings)
    # FastAPI's own OpenTelemetry layer stays off: the gateway makes its own spans (service.observability
    # .tracing), and with it on, FastAPI looked up the global tracer provider on every request.
    app = FastAPI(
        title="Classifier gateway",
        version="1",
        description=DESCRIPTION,
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    # RestServer.stop sets it: bodies still arriving get a short grace, then 503.
    app.state.shutdown = ShutdownSignal(settings.connections.shutdown_body_grace_s)
    # Classify first: routes are matched in order, and nearly every request is a classify call.
    classify = classify_router(settings, classifier, metrics)
    app.include_router(classify)
    app.include_router(models_router(classifier))
    app.include_router(health_router(classifier, metrics))
    app.include_router(rollout_router(settings, classifier))  # admin: the rollout policy of each model
    app.include_router(v2_router(V2DataPlane(classifier), metrics))  # the Open Inference Protocol (V2)
    mount_page(app)  # the browser page at "/" and its assets under "/ui/" (owned by service/web)

    install_problem_handlers(app)
    install_openapi(app)
    # Innermost of ours, in front of the router: classify calls go straight to their endpoints.
    app.add_middleware(ClassifyLane, routes=[r for r in classify.routes if isinstance(r, APIRoute)])
    # add_middleware wraps what is there, so the error boundary added last is outermost: it also
    # answers the 413 that the body limit raises before any route runs, and the 429/408/503 of the
    # body guard, which only sees bodies within the limit.
    app.add_middleware(
        BodyGuardMiddleware, budget=classifier.budget, limits=settings.connections, shutdown=app.state.shutdown
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)
    if access is not None:
        app.add_middleware(AuthMiddleware, access=access, open_paths=settings.auth.open_paths)
    if settings.cors_origins:
        # Outside the key check, so a browser's preflight (which carries no credentials) is answered.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Timeout"],
        )
    app.add_middleware(ErrorBoundaryMiddleware)
    # Outermost: V2 answers every problem on a /v2 path, whoever raised it, in V2's {"error": ...} body.
    app.add_middleware(V2ErrorBodyMiddleware)
    # Outermost of all: the request id is bound before any layer can log or answer an error.
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
