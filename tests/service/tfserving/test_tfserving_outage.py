"""TF Serving goes away and comes back: the gateway answers 503 and is not ready, then recovers by itself."""

from __future__ import annotations

import time

import httpx
from tfserving_support import free_port, gateway_config, model_server_config, running_gateway, serving

from training.testing import tiny_input

BODY = {"instances": [{"text": str(tiny_input("tiny-text", "weather"))}]}


async def _until(client: httpx.AsyncClient, status: int, timeout_s: float) -> float:
    """Seconds until /readyz answers ``status``."""
    started = time.perf_counter()
    while (await client.get("/readyz")).status_code != status:
        assert time.perf_counter() - started < timeout_s, f"/readyz never answered {status}"
    return time.perf_counter() - started


async def test_model_server_stopped_then_started_again(embedded_backend, tiny_models):
    port = free_port()
    settings = model_server_config(tiny_models)
    async with (
        serving(embedded_backend, settings, port) as first,
        running_gateway(gateway_config(tiny_models, f"127.0.0.1:{port}")) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client,
    ):
        assert (await client.post("/v1/models/tiny-text:classify", json=BODY)).status_code == 200

        await first.stop(None)
        noticed = await _until(client, 503, timeout_s=10)
        ready = (await client.get("/readyz")).json()
        assert ready["ready"] is False and "unreachable" in ready["models"]["backend"]
        refused = await client.post("/v1/models/tiny-text:classify", json=BODY)
        assert refused.status_code == 503
        assert refused.json()["type"].endswith("backend-unavailable")
        # Finding 9: no answer names the backend's address (the log does).
        for public in (refused.text, (await client.get("/readyz")).text, (await client.get("/v1/models")).text):
            assert str(port) not in public and "127.0.0.1" not in public, public

        async with serving(embedded_backend, settings, port):
            restarted = time.perf_counter()
            recovered = await _until(client, 200, timeout_s=15)
            answer = await client.post("/v1/models/tiny-text:classify", json=BODY)
            answered = time.perf_counter() - restarted
        assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "weather"
        print(
            f"\nTF Serving outage: not ready {noticed:.2f}s after the stop;"
            f" ready {recovered:.2f}s and answering {answered:.2f}s after the restart"
        )
        assert recovered < 5.0
