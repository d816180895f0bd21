"""What the OpenAPI document says that FastAPI cannot infer: the three classify body forms and the problems.

The classify routes read their body themselves (to pick JSON, multipart or raw by Content-Type), so
their request body is described here and its schemas are added to the document's components.
"""

from __future__ import annotations

import http
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from service.core.schemas import ClassifyRequestBody
from service.rest.problems import PROBLEM_MEDIA_TYPE, Problem

_REF = "#/components/schemas/{model}"
_BINARY = {"type": "string", "format": "binary"}

CLASSIFY_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "description": "One of three forms, chosen by Content-Type. Raw bodies carry a single instance.",
    "content": {
        "application/json": {
            "schema": {"$ref": _REF.format(model="ClassifyRequestBody")},
            "examples": {
                "text": {"value": {"instances": [{"text": "what a match tonight"}], "top_k": 3}},
                "image or audio": {"value": {"instances": [{"b64": "iVBORw0KGgo..."}]}},
            },
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "array", "items": _BINARY, "description": "Image or WAV files, one per instance."},
                    "text": {"type": "array", "items": {"type": "string"}, "description": "Texts, one per instance."},
                    "top_k": {"type": "integer", "minimum": 1},
                },
                "description": "Parts are instances in the order sent; a file part of type text/plain is a text.",
            },
        },
        "image/*": {"schema": _BINARY},
        "audio/wav": {"schema": _BINARY},
        "audio/x-wav": {"schema": _BINARY},
        "audio/wave": {"schema": _BINARY},
        "text/plain": {"schema": {"type": "string"}, "example": "rain and wind all day"},
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses, each an ``application/problem+json`` Problem."""
    return {
        status: {
            "description": http.HTTPStatus(status).phrase,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF.format(model="Problem")}}},
        }
        for status in statuses
    }


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` include the schemas the hand-written parts of the document refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in (ClassifyRequestBody, Problem):
                schemas.update(_component_schemas(model))
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _component_schemas(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF)
    nested = schema.pop("$defs", {})
    return {model.__name__: schema, **nested}
