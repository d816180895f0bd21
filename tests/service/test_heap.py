"""``freeze_after_loads``: one collect-and-freeze per change of the AVAILABLE versions, none while idle."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import numpy as np
import pytest

from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus, VersionState, VersionStatus
from service.heap import freeze_after_loads


class ListingBackend(ModelBackend):
    """Lists whatever ``show`` was last given and publishes each change; counts ``list_models`` calls."""

    def __init__(self) -> None:
        self.statuses: list[ModelStatus] = []
        self.calls = 0

    def show(self, statuses: list[ModelStatus]) -> None:
        self.statuses = statuses
        self.publish_change()

    async def list_models(self) -> list[ModelStatus]:
        self.calls += 1
        return self.statuses

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def model_status(self, name: str) -> ModelStatus:
        raise NotImplementedError

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        raise NotImplementedError

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        raise NotImplementedError


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def _status(*versions: int, state: VersionState = VersionState.AVAILABLE) -> list[ModelStatus]:
    entries = tuple(VersionStatus(version=v, state=state) for v in versions)
    return [ModelStatus(name="m", versions=entries)]


async def _seen(backend: ListingBackend, calls: int) -> None:
    """Wait until the keeper has read the state ``calls`` times in all."""
    while backend.calls < calls:
        await asyncio.sleep(0.001)


async def test_freezes_once_per_change_of_available_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
    backend = ListingBackend()
    keeper = asyncio.create_task(freeze_after_loads(backend))

    await _seen(backend, 1)
    assert freezes == []  # nothing loaded yet
    backend.show(_status(1, state=VersionState.LOADING))
    await _seen(backend, 2)
    assert freezes == []  # a change, but no AVAILABLE version yet
    backend.show(_status(1))
    await _seen(backend, 3)
    assert len(freezes) == 1
    backend.show(_status(1))  # published again, the same versions: no second freeze
    await _seen(backend, 4)
    assert len(freezes) == 1
    backend.show(_status(2, 1))
    await _seen(backend, 5)
    assert len(freezes) == 2
    await asyncio.sleep(0.05)
    assert backend.calls == 5  # no change, no reading: nothing polls

    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper
    assert not backend._subscribers  # the subscription ended with the task


async def test_frozen_objects_leave_the_collected_generations() -> None:
    backend = ListingBackend()
    backend.statuses = _status(1)
    keeper = asyncio.create_task(freeze_after_loads(backend))

    await _seen(backend, 1)
    await asyncio.sleep(0.01)
    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper

    assert gc.get_freeze_count() > 0
