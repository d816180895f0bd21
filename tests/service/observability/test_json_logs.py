"""``CLASSIFIER_LOG_FORMAT=json``: a real gateway process writes one JSON object per log line, and the lines
about a request carry its id."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
from gateway_support import gateway_env, gateway_process, wait_ready
from observability_support import text_body


async def test_json_log_lines_carry_the_request_id(models_dir: Path) -> None:
    env = gateway_env(
        CLASSIFIER_MODELS_DIR=str(models_dir),
        CLASSIFIER_MODELS='["tiny-text"]',
        CLASSIFIER_GRPC_ENABLED="false",
        CLASSIFIER_LOG_FORMAT="json",
        CLASSIFIER_LOG_LEVEL="debug",  # debug turns on the access log: one line per request
    )
    async with gateway_process(env, listen_timeout_s=180) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            await wait_ready(client)
            ok = await client.post(
                "/v1/models/tiny-text:classify", json=text_body("hot sun"), headers={"X-Request-ID": "json-log-ok"}
            )
            missing = await client.get("/v1/models/absent", headers={"X-Request-ID": "json-log-404"})
        gateway.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gateway.process.wait(), timeout=60) == 0
    lines = gateway.log

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
