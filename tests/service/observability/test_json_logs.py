"""``CLASSIFIER_LOG_FORMAT=json``: a real gateway process writes one JSON object per log line, and the lines
about a request carry its id."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
from gateway_support import wait_ready
from observability_support import text_body

_LISTENING = re.compile(r"REST listening on (http://[^\s\"]+)")


async def test_json_log_lines_carry_the_request_id(models_dir: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLASSIFIER_")}
    env |= {
        "CLASSIFIER_MODELS_DIR": str(models_dir),
        "CLASSIFIER_MODELS": '["tiny-text"]',
        "CLASSIFIER_PORT": "0",
        "CLASSIFIER_GRPC_ENABLED": "false",
        "CLASSIFIER_LOG_FORMAT": "json",
        "CLASSIFIER_LOG_LEVEL": "debug",  # debug turns on the access log: one line per request
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    lines: list[str] = []
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read_log() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            lines.append(line)
            match = _LISTENING.search(line)
            if match and not listening.done():
                listening.set_result(match.group(1))
        if not listening.done():
            listening.set_exception(AssertionError("the gateway exited before listening:\n" + "\n".join(lines)))

    reader = asyncio.create_task(read_log())
    try:
        url = await asyncio.wait_for(listening, timeout=180)
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            await wait_ready(client)
            ok = await client.post(
                "/v1/models/tiny-text:classify", json=text_body("hot sun"), headers={"X-Request-ID": "json-log-ok"}
            )
            missing = await client.get("/v1/models/absent", headers={"X-Request-ID": "json-log-404"})
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), timeout=60) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await reader

    assert ok.status_code == 200 and missing.status_code == 404
    records = []
    for line in lines:
        if not line.startswith("{"):
            continue  # TensorFlow's own C++ lines bypass Python logging
        records.append(json.loads(line))
    assert records, "\n".join(lines)
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
    by_id = {r["request_id"]: r for r in records}
    assert "POST /v1/models/tiny-text" in by_id["json-log-ok"]["message"]
    assert "404" in by_id["json-log-404"]["message"]
    assert any(r["logger"] == "service.gateway" and r["request_id"] == "-" for r in records)
