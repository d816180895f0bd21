"""Bench system (a), the ceiling: a bare FastAPI + pydantic endpoint that only parses the classify payload.

Same path and body as the gateway (``POST /v1/models/{name}:classify`` with ``{"instances": [...]}``):
FastAPI reads the body, pydantic validates it, base64 is decoded, and a fixed answer of the gateway's
shape goes back. No model, no preprocessing: no Python server on this stack can answer these requests
faster, which makes it the yardstick for the gateway's own overhead.

``python -m loadtest.bench.ceiling_app --port 8100``
"""

from __future__ import annotations

import argparse
import binascii

import orjson
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.responses import Response

#: An answer the size of the gateway's for a 10-label model with top_k 3.
ANSWER = orjson.dumps(
    {
        "model": "ceiling",
        "version": 1,
        "predictions": [
            {
                "label": "0",
                "score": 0.9,
                "top_k": [{"label": str(i), "score": 0.9 / (i + 1)} for i in range(3)],
                "probabilities": {str(i): 0.01 for i in range(10)},
            }
        ],
    }
)


class Instance(BaseModel):
    """``{"text": ...}`` or ``{"b64": ...}``."""

    text: str | None = None
    b64: str | None = None


class ClassifyBody(BaseModel):
    """The classify request body."""

    instances: list[Instance] = Field(min_length=1)
    top_k: int | None = None


def create_app() -> FastAPI:
    """The parse-only app."""
    app = FastAPI(title="bench ceiling")

    @app.post("/v1/models/{name}:classify")
    async def classify(body: ClassifyBody) -> Response:  # the model name in the path is not needed
        for instance in body.instances:
            if instance.b64 is not None:
                binascii.a2b_base64(instance.b64)
        return Response(ANSWER, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, bool]:
        return {"ready": True}

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1 with uvicorn's defaults (the gateway's HTTP stack)."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.ceiling_app")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
