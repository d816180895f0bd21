"""Fixtures for the client tests: a clean environment and a scripted server on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from scripted_server import ScriptedServer


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``CLASSIFIER_*`` variables from a developer's shell (the CLI passes the environment on)."""
    for name in list(os.environ):
        if name.startswith("CLASSIFIER_"):
            monkeypatch.delenv(name)


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    """A running scripted server, stopped after the test."""
    server = await ScriptedServer().start()
    try:
        yield server
    finally:
        await server.stop()
