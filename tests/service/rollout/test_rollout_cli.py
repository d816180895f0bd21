"""``python -m service.rollout`` against a real gateway: start, status, promote, and a refusal."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys

import httpx
from rollout_support import MODEL, SAME, STABLE

from service.gateway import Gateway
from service.rollout.cli import main


async def run_cli(*argv: str) -> tuple[int, str, str]:
    """The CLI in a thread (it blocks; the gateway runs on this loop): exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return main(list(argv))

    code = await asyncio.to_thread(call)
    return code, out.getvalue(), err.getvalue()


async def test_cli_starts_shows_and_promotes(gateway: Gateway, client: httpx.AsyncClient) -> None:
    url = gateway.rest.url
    code, out, _ = await run_cli("--url", url, "start", MODEL, "--candidate", str(SAME), "--shadow-rate", "0.5")
    assert code == 0 and json.loads(out)["policy"]["candidate"] == SAME

    code, out, _ = await run_cli("--url", url, "status", MODEL)
    assert code == 0 and json.loads(out)["policy"]["shadow_rate"] == 0.5

    code, out, _ = await run_cli("--url", url, "promote", MODEL)
    assert code == 0 and json.loads(out)["policy"]["stable"] == SAME


async def test_cli_reports_a_refusal_on_stderr(gateway: Gateway, client: httpx.AsyncClient) -> None:
    code, out, err = await run_cli("--url", gateway.rest.url, "start", MODEL, "--candidate", str(STABLE))

    assert code == 1 and out == ""
    assert "409" in err and "already the stable version" in err


def test_cli_without_a_gateway_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.rollout", "--url", "http://127.0.0.1:9", "status", MODEL],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "cannot reach" in result.stderr
