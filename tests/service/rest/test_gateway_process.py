"""``python -m service`` as an operator runs it: serves from the environment's settings, and on SIGTERM
stops accepting, answers every request it accepted, and exits 0."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path

import httpx
from rest_support import b64, wait_ready

from training.testing import tiny_input

_LISTENING = re.compile(r"REST listening on (http://\S+)")


async def test_gateway_process_drains_in_flight_requests_on_sigterm(tiny_models: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLASSIFIER_")}
    env |= {
        "CLASSIFIER_MODELS_DIR": str(tiny_models),
        "CLASSIFIER_MODELS": '["tiny-audio"]',
        "CLASSIFIER_PORT": "0",
        "CLASSIFIER_GRPC_PORT": "0",
        # Every model call waits a full second for more rows, so requests are surely in flight at SIGTERM.
        "CLASSIFIER_BATCHING__BATCH_TIMEOUT_MS": "1000",
        "CLASSIFIER_BATCHING__EAGER_WHEN_IDLE": "false",
        "CLASSIFIER_BATCHING__MAX_BATCH_SIZE": "1024",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    log: list[str] = []
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            log.append(line)
            match = _LISTENING.search(line)
            if match and not listening.done():
                listening.set_result(match.group(1))
        if not listening.done():
            listening.set_exception(AssertionError("the gateway exited before listening:\n" + "\n".join(log)))

    reader = asyncio.create_task(read_log())
    try:
        url = await asyncio.wait_for(listening, timeout=180)
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
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
            process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*requests)
        exit_code = await asyncio.wait_for(process.wait(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader

    text = "\n".join(log)
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses if r.status_code != 200]
    assert all(len(r.json()["predictions"]) == 4 for r in responses)
    assert any(t > signalled for t in finished), "every request ended before SIGTERM: nothing was in flight"
    assert exit_code == 0, text
    assert "SIGTERM: finishing in-flight requests" in text and "gateway: stopped" in text, text
    assert "Traceback" not in text, text
