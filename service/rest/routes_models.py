"""``GET /v1/models`` and ``GET /v1/models/{name}``: what is served, its versions, labels and input limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from service.core.classifier import Classifier
from service.core.names import NAME_PATTERN
from service.core.schemas import ModelInfo, ModelList
from service.rest.openapi import problem_responses


def models_router(classifier: Classifier) -> APIRouter:
    """The read-only model routes."""
    router = APIRouter(tags=["models"])

    @router.get("/v1/models", summary="Every served model", responses=problem_responses(503))
    async def list_models() -> ModelList:
        return ModelList(models=await classifier.list_models())

    @router.get(
        "/v1/models/{name}",
        summary="One model, with its versions and the input limits",
        responses=problem_responses(404, 422, 503),
    )
    async def get_model(
        name: Annotated[str, Path(description="The model's name.", json_schema_extra={"pattern": NAME_PATTERN})],
    ) -> ModelInfo:
        return await classifier.get_model(name)

    return router
