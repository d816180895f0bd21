"""Unexpected failures: a generic 500 problem for the client, the traceback in the log only.

The app runs in process (ASGI transport) over a backend that breaks in ways the error hierarchy does
not name: a server socket would add nothing to what is tested here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest
from rest_support import assert_problem

from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus
from service.core.classifier import Classifier
from service.errors import ServiceError
from service.metrics import Metrics
from service.rest.app import create_app
from service.settings import Settings

SECRET = "password=hunter2 in /srv/private/config"


class BrokenBackend(ModelBackend):
    """Fails every question: with a bug (RuntimeError), or with the bare base error."""

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_models(self) -> list[ModelStatus]:
        raise ServiceError(f"unclassified failure: {SECRET}")

    async def model_status(self, name: str) -> ModelStatus:
        raise RuntimeError(f"bug: {SECRET}")

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        raise RuntimeError(f"bug: {SECRET}")

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        raise RuntimeError(f"bug: {SECRET}")


@pytest.fixture
async def broken_client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(models_dir="unused", grpc_enabled=False)
    metrics = Metrics()
    classifier = Classifier(settings, BrokenBackend(), metrics)
    transport = httpx.ASGITransport(app=create_app(settings, classifier, metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client
    classifier.close()


async def test_unexpected_exception_is_a_generic_500_and_logged(
    broken_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="service.rest.problems"):
        response = await broken_client.post("/v1/models/any:classify", json={"instances": [{"text": "a"}]})

    body = assert_problem(response, 500, "service-error")
    assert SECRET not in response.text
    assert body["instance"] == "/v1/models/any:classify"
    [record] = [r for r in caplog.records if r.name == "service.rest.problems"]
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])


async def test_bare_service_error_is_a_generic_500(
    broken_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="service.rest.problems"):
        response = await broken_client.get("/v1/models")

    assert_problem(response, 500, "service-error")
    assert SECRET not in response.text
    assert any(SECRET in r.getMessage() for r in caplog.records)
