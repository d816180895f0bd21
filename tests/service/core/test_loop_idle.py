"""``nothing_else_ready``: true on an idle asyncio loop, false while other tasks are ready to run."""

from __future__ import annotations

import asyncio

import pytest

from service.core.loop_idle import nothing_else_ready


async def test_an_idle_loop_has_nothing_else_ready() -> None:
    await asyncio.sleep(0)  # let whatever the test's setup scheduled run first
    assert nothing_else_ready()


async def test_tasks_started_beside_this_one_are_ready() -> None:
    seen: list[bool] = []

    async def one() -> None:
        seen.append(nothing_else_ready())

    # Like the requests of one gRPC stream message: the second task's first step waits behind the first's.
    await asyncio.gather(one(), one())
    assert seen[0] is False


def test_a_loop_that_does_not_say_is_answered_false(monkeypatch: pytest.MonkeyPatch) -> None:
    class Opaque:
        """A loop without asyncio's ready queue, as uvloop's."""

    monkeypatch.setattr("asyncio.get_running_loop", Opaque)
    assert nothing_else_ready() is False
