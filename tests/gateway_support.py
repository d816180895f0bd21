"""Helpers for suites that run a whole gateway on loopback: start it, wait for /readyz, stop it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from service.gateway import Gateway
from service.settings import Settings


async def wait_ready(client: httpx.AsyncClient, timeout_s: float = 120.0) -> dict[str, Any]:
    """Poll /readyz until it answers 200; returns its body."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await client.get("/readyz")
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout_s}s: {response.status_code} {response.text}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_gateway(settings: Settings, *, ready: bool = True) -> AsyncIterator[Gateway]:
    """A started gateway (ready, unless told not to wait), stopped gracefully on exit."""
    gateway = Gateway(settings)
    await gateway.start()
    try:
        if ready:
            async with httpx.AsyncClient(base_url=gateway.rest.url) as client:
                await wait_ready(client)
        yield gateway
    finally:
        await gateway.stop()


_LISTENING = re.compile(r"REST listening on (http://[^\s\"]+)")


def gateway_env(**settings: str) -> dict[str, str]:
    """The environment of a ``python -m service`` process: this one's without its ``CLASSIFIER_`` settings,
    then ``settings``, on a free port, quiet TensorFlow."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLASSIFIER_")}
    return env | {"CLASSIFIER_PORT": "0", "TF_CPP_MIN_LOG_LEVEL": "2"} | settings


@dataclass
class GatewayProcess:
    """A ``python -m service`` process, the URL it listens on and its log lines (stderr) so far."""

    process: asyncio.subprocess.Process
    url: str
    log: list[str] = field(default_factory=list)


@asynccontextmanager
async def gateway_process(env: dict[str, str], *, listen_timeout_s: float = 300) -> AsyncIterator[GatewayProcess]:
    """``python -m service`` with ``env``, yielded once it listens (not necessarily ready). On leaving, a
    process still running gets SIGTERM, and is killed if it has not exited 60 s later."""
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
        url = await asyncio.wait_for(listening, timeout=listen_timeout_s)
        yield GatewayProcess(process, url, log)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader
