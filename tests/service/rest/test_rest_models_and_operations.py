"""Model listing, probes, metrics, the OpenAPI document, and problems for unknown routes."""

from __future__ import annotations

import asyncio
import statistics

import httpx
from rest_support import assert_problem, metric_samples

from training.testing import TINY_LABELS, TINY_MODALITIES


async def test_list_models_describes_every_model(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models")

    assert response.status_code == 200, response.text
    models = {m["name"]: m for m in response.json()["models"]}
    assert set(models) == set(TINY_MODALITIES)
    for name, model in models.items():
        assert model["modality"] == TINY_MODALITIES[name]
        assert model["labels"] == list(TINY_LABELS[name])
        assert model["default_version"] == 1
        assert model["versions"] == [{"version": 1, "state": "AVAILABLE", "error": None}]
        assert model["spec_hash"].startswith("sha256:")
    assert models["tiny-text"]["version_labels"] == {"stable": 1, "canary": 7}


async def test_get_model_includes_input_limits(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/models/tiny-audio")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "tiny-audio" and body["modality"] == "audio"
    assert set(body["input_limits"]) == {
        "max_body_bytes",
        "max_instances",
        "max_image_pixels",
        "max_audio_seconds",
        "max_text_chars",
    }


async def test_get_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/models/nope"), 404, "model-not-found", detail_has="nope")


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v3/anything"), 404, "not-found", detail_has="/v3/anything")
    problem = assert_problem(await client.get("/v1/models/tiny-text/versions/1:classify"), 405, "method-not-allowed")
    assert problem["instance"] == "/v1/models/tiny-text/versions/1:classify"


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    live = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"ready": True, "models": dict.fromkeys(TINY_MODALITIES, "ready")}


async def test_metrics_record_decode_and_total_stages(client: httpx.AsyncClient) -> None:
    await client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": "goal"}]})
    await client.post("/v1/models/tiny-text:classify", content=b"{", headers={"content-type": "application/json"})
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = metric_samples(response.text, "classifier_stage_seconds_count")
    decode = {s["status"]: v for s, v in counts if s["stage"] == "decode" and s["model"] == "tiny-text"}
    assert decode.get("ok", 0) >= 1 and decode.get("InvalidInput", 0) >= 1
    assert any(s["stage"] == "total" and s["surface"] == "rest" and s["version"] == "1" for s, _ in counts)


async def test_openapi_describes_classify_bodies_and_problems(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    operation = document["paths"]["/v1/models/{name}/versions/{version}:classify"]["post"]
    assert {"application/json", "multipart/form-data", "image/*", "audio/wav", "text/plain"} <= set(
        operation["requestBody"]["content"]
    )
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ClassifyResponse")
    for status in ("400", "404", "413", "415", "422", "429", "503", "504"):
        assert "application/problem+json" in operation["responses"][status]["content"], status
    assert {"ClassifyRequestBody", "Instance", "Problem", "ClassifyResponse"} <= set(document["components"]["schemas"])
    assert any(p["name"] == "X-Request-Timeout" and p["in"] == "header" for p in operation["parameters"])


async def test_docs_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200 and "swagger" in response.text.lower()


async def test_keep_alive_answers_are_not_held_back_by_delayed_acks(client: httpx.AsyncClient) -> None:
    # Without TCP_NODELAY on accepted connections each answer's body waits ~40 ms for the client's ACK.
    loop = asyncio.get_running_loop()
    durations = []
    for _ in range(15):
        started = loop.time()
        response = await client.get("/healthz")
        durations.append(loop.time() - started)
        assert response.status_code == 200
    assert statistics.median(durations) < 0.03, durations
