"""``python -m service`` as an operator runs it: serves from the environment's settings, and on SIGTERM
stops accepting, answers every request it accepted, and exits 0."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
from gateway_support import gateway_env, gateway_process
from rest_support import b64, wait_ready

from training.testing import tiny_input


async def test_gateway_process_drains_in_flight_requests_on_sigterm(tiny_models: Path) -> None:
    env = gateway_env(
        CLASSIFIER_MODELS_DIR=str(tiny_models),
        CLASSIFIER_MODELS='["tiny-audio"]',
        CLASSIFIER_GRPC_PORT="0",
        # Every model call waits a full second for more rows, so requests are surely in flight at SIGTERM.
        CLASSIFIER_BATCHING__BATCH_TIMEOUT_MS="1000",
        CLASSIFIER_BATCHING__EAGER_WHEN_IDLE="false",
        CLASSIFIER_BATCHING__MAX_BATCH_SIZE="1024",
    )
    async with gateway_process(env, listen_timeout_s=180) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=120) as client:
            await wait_ready(client)
            clips = [tiny_input("tiny-audio", "low", seed=i) for i in range(4)]
            body = {"instances": [{"b64": b64(clip)} for clip in clips if isinstance(clip, bytes)]}
            finished: list[float] = []

            async def classify() -> httpx.Response:
                response = await client.post("/v1/models/tiny-audio:classify", json=body)
                finished.append(time.monotonic())
                return response

            requests = [asyncio.create_task(classify()) for _ in range(8)]
            await asyncio.sleep(0.3)  # sent and accepted, waiting in the batch window
            signalled = time.monotonic()
            gateway.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*requests)
        exit_code = await asyncio.wait_for(gateway.process.wait(), timeout=60)
    log = gateway.log

    text = "\n".join(log)
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
    assert all(len(r.json()["predictions"]) == 4 for r in responses)
    assert any(t > signalled for t in finished), "every request ended before SIGTERM: nothing was in flight"
    assert exit_code == 0, text
    assert "SIGTERM: finishing in-flight requests" in text and "gateway: stopped" in text, text
    assert "Traceback" not in text, text
