"""``/v1/models/{name}/rollout``: the rollout policy and comparison report, and the start/promote/rollback actions.

Admin only. With API keys configured, the caller's key needs the ``admin`` scope (the auth middleware
checks it before routing, ``require_scope`` again here). Without keys, the endpoints answer only when the
gateway's REST address is a loopback one (an operator on the host, or ``kubectl port-forward``); on any
other address they answer 403, since anyone who reaches the port could otherwise move traffic. Without
``CLASSIFIER_ROLLOUT__PATH`` they answer 404.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from service.auth.access import Principal
from service.core.classifier import Classifier
from service.core.names import NAME_PATTERN, check_model_name
from service.errors import NotFound, PermissionDenied
from service.rest.auth import require_scope
from service.rest.openapi import problem_responses
from service.rollout.controller import Rollouts
from service.rollout.report import RolloutReport, StartRequest
from service.settings import Settings

ModelName = Annotated[str, Path(description="The model's name.", json_schema_extra={"pattern": NAME_PATTERN})]


def is_loopback(host: str) -> bool:
    """Whether a bind address only accepts connections from this host."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rollout_router(settings: Settings, classifier: Classifier) -> APIRouter:
    """The rollout routes, each behind the admin check."""
    require_admin = require_scope("admin")
    keys_configured = settings.auth.keys_file is not None
    loopback = is_loopback(settings.host)

    def admin(request: Request) -> Principal:
        principal = require_admin(request)
        if not keys_configured and not loopback:
            raise PermissionDenied(
                "rollout control needs API keys (CLASSIFIER_AUTH__KEYS_FILE) when the gateway is not bound to loopback"
            )
        return principal

    router = APIRouter(tags=["rollout"], dependencies=[Depends(admin)])
    responses = problem_responses(401, 403, 404, 409, 422, 503)

    async def checked(name: str) -> Rollouts:
        check_model_name(name, ("path", "name"))
        if classifier.rollouts is None:
            raise NotFound("rollouts are off: the gateway has no CLASSIFIER_ROLLOUT__PATH")
        await classifier.backend.model_status(name)  # ModelNotFound for an unknown model
        return classifier.rollouts

    @router.get("/v1/models/{name}/rollout", summary="The rollout policy and comparison", responses=responses)
    async def get_rollout(name: ModelName) -> RolloutReport:
        return await (await checked(name)).report(name)

    @router.post("/v1/models/{name}/rollout:start", summary="Start rolling a candidate out", responses=responses)
    async def start_rollout(name: ModelName, body: StartRequest) -> RolloutReport:
        rollouts = await checked(name)
        status = await classifier.backend.model_status(name)
        return await rollouts.start(status, body, settings.version_labels.get(name, {}))

    @router.post("/v1/models/{name}/rollout:promote", summary="Make the candidate stable", responses=responses)
    async def promote_rollout(name: ModelName) -> RolloutReport:
        return await (await checked(name)).promote(name)

    @router.post("/v1/models/{name}/rollout:rollback", summary="Drop the candidate", responses=responses)
    async def rollback_rollout(name: ModelName) -> RolloutReport:
        return await (await checked(name)).rollback(name)

    return router
