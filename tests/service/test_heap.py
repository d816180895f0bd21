"""``freeze_after_loads``: one collect-and-freeze per change of the AVAILABLE versions, none while idle."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from service.backends.base import ModelStatus, VersionState, VersionStatus
from service.heap import freeze_after_loads


class ListingBackend:
    """Answers ``list_models`` with whatever ``statuses`` holds now, counting the calls."""

    def __init__(self) -> None:
        self.statuses: list[ModelStatus] = []
        self.calls = 0

    async def list_models(self) -> list[ModelStatus]:
        self.calls += 1
        return self.statuses


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def _status(*versions: int) -> list[ModelStatus]:
    entries = tuple(VersionStatus(version=v, state=VersionState.AVAILABLE) for v in versions)
    return [ModelStatus(name="m", versions=entries)]


async def _polls(backend: ListingBackend, count: int) -> None:
    target = backend.calls + count
    while backend.calls < target:
        await asyncio.sleep(0.001)


async def test_freezes_once_per_change_of_available_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    backend = ListingBackend()
    keeper = asyncio.create_task(freeze_after_loads(backend, interval_s=0.001))  # type: ignore[arg-type]

    await _polls(backend, 3)
    assert freezes == []  # nothing loaded yet
    backend.statuses = _status(1)
    await _polls(backend, 3)
    assert len(freezes) == 1
    backend.statuses = _status(2, 1)
    await _polls(backend, 3)
    assert len(freezes) == 2

    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper


async def test_frozen_objects_leave_the_collected_generations() -> None:
    backend = ListingBackend()
    backend.statuses = _status(1)
    keeper = asyncio.create_task(freeze_after_loads(backend, interval_s=0.001))  # type: ignore[arg-type]

    await _polls(backend, 2)
    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper

    assert gc.get_freeze_count() > 0
