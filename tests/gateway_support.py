"""Helpers for suites that run a whole gateway on loopback: start it, wait for /readyz, stop it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
