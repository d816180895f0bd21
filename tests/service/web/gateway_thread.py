"""A gateway in a thread of its own, for the browser tests (Selenium calls block the test's thread).

A support module rather than a conftest export: ``from conftest import ...`` is ambiguous when several
test folders run together.
"""

from __future__ import annotations

import asyncio
import threading

from service.gateway import Gateway
from service.settings import Settings


class GatewayThread:
    """``service.gateway.Gateway`` (embedded backend, classify core, REST app, uvicorn) in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = ""
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def start(self) -> str:
        self._thread.start()
        if not self._ready.wait(120):
            raise TimeoutError("the gateway did not start within 120 s")
        if self._failure is not None:
            raise RuntimeError("the gateway failed to start") from self._failure
        return self.url

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        gateway = Gateway(self.settings)
        await gateway.start()
        try:
            self.url = gateway.rest.url
            self._ready.set()
            await self._stop.wait()
        finally:
            await gateway.stop()
