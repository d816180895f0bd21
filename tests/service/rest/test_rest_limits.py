"""Limits checked before expensive work: body size (declared and streamed), instance count, default deadline.

Driven against the ``tight_client`` server: 4096-byte bodies, 2 instances, and a default deadline that
has always passed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from rest_support import TIGHT_LIMITS, assert_problem


async def test_declared_body_over_limit_is_413(tight_client: httpx.AsyncClient) -> None:
    response = await tight_client.post(
        "/v1/models/tiny-image:classify",
        content=b"\x89PNG" + bytes(TIGHT_LIMITS.max_body_bytes),
        headers={"content-type": "image/png"},
    )
    assert_problem(response, 413, "payload-too-large", detail_has=str(TIGHT_LIMITS.max_body_bytes))


async def test_chunked_body_over_limit_is_413(tight_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b"x" * 1024

    response = await tight_client.post(
        "/v1/models/tiny-text:classify", content=chunks(), headers={"content-type": "text/plain"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload-too-large", detail_has="passed the limit")


async def test_too_many_json_instances_is_413(tight_client: httpx.AsyncClient) -> None:
    response = await tight_client.post(
        "/v1/models/tiny-text:classify", json={"instances": [{"text": "a"}, {"text": "b"}, {"text": "c"}]}
    )
    assert_problem(response, 413, "payload-too-large", detail_has="3 instances")


async def test_too_many_multipart_instances_is_413(tight_client: httpx.AsyncClient) -> None:
    fields = [("text", (None, text)) for text in ("a", "b", "c")]
    response = await tight_client.post("/v1/models/tiny-text:classify", files=fields)
    assert_problem(response, 413, "payload-too-large", detail_has="3 instances")


async def test_default_deadline_applies_without_header(tight_client: httpx.AsyncClient) -> None:
    response = await tight_client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": "rain"}]})
    assert_problem(response, 504, "deadline-exceeded")


async def test_limits_are_published_with_the_model(tight_client: httpx.AsyncClient) -> None:
    response = await tight_client.get("/v1/models/tiny-text")
    assert response.status_code == 200, response.text
    limits = response.json()["input_limits"]
    assert limits["max_body_bytes"] == TIGHT_LIMITS.max_body_bytes
    assert limits["max_instances"] == TIGHT_LIMITS.max_instances
