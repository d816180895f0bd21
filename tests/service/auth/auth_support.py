"""Helpers of the access-control tests: keys made with the real CLI, waiting for a reload to apply."""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from service.auth import cli

#: How often the test gateways poll the keys file (seconds).
POLL_S = 0.2


def keys(*argv: str) -> str:
    """Run ``python -m service.keys ARGV`` in process; returns stdout's last line (the key for add/rotate)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    assert code == 0, (argv, out.getvalue())
    return out.getvalue().strip().splitlines()[-1]


def add_key(keys_file: Path, name: str, scope: str, *, rate: float | None = None, burst: int | None = None) -> str:
    """A new key in ``keys_file``."""
    argv = ["add", "--file", str(keys_file), "--name", name, "--scope", scope]
    if rate is not None:
        argv += ["--rate", str(rate)]
    if burst is not None:
        argv += ["--burst", str(burst)]
    return keys(*argv)


def bearer(key: str) -> dict[str, str]:
    """The REST header that carries ``key``."""
    return {"Authorization": f"Bearer {key}"}


async def seconds_until(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> float:
    """Poll ``condition`` until it holds; returns how long that took (fails past ``timeout_s``)."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.05)
    return time.monotonic() - start
