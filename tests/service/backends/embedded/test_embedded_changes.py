"""``EmbeddedBackend.changes()``: the state at once, then one snapshot per change, none while nothing changes."""

from __future__ import annotations

import asyncio

from embedded_support import BackendRunner, RepoMaker, VersionPlacer, settings_for

from service.backends.base import BackendState, StateChanges, VersionState


def _states(state: BackendState, name: str) -> dict[int, VersionState]:
    return {v.version: v.state for s in state.models if s.name == name for v in s.versions}


async def _until(changes: StateChanges, name: str, want: dict[int, VersionState]) -> list[BackendState]:
    """Every state read until model ``name`` is in ``want``."""
    seen = []
    async with asyncio.timeout(60):
        async for state in changes:
            seen.append(state)
            if _states(state, name) == want:
                return seen
    raise AssertionError("the subscription ended")


async def test_changes_follow_loading_a_new_version_and_retiring_the_old(
    make_repo: RepoMaker, place: VersionPlacer, run_backend: BackendRunner
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}})
    backend = await run_backend(settings_for(repo))

    with backend.changes() as changes:
        first = await anext(changes)
        assert _states(first, "tiny-image") in ({1: VersionState.LOADING}, {1: VersionState.AVAILABLE})
        await _until(changes, "tiny-image", {1: VersionState.AVAILABLE})

        # Nothing changes: the repository is polled every 0.1 s, but no state is published.
        waiting = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0.5)
        assert not waiting.done()

        place(repo / "tiny-image", 2, "image-2")
        seen = [await waiting, *await _until(changes, "tiny-image", {2: VersionState.AVAILABLE})]

    steps = [_states(state, "tiny-image") for state in seen]
    assert {1: VersionState.AVAILABLE, 2: VersionState.AVAILABLE} in steps or {
        1: VersionState.UNLOADING,
        2: VersionState.AVAILABLE,
    } in steps  # the swap passed through a state with both versions
    assert all(state.error is None for state in seen)
    assert not backend._subscribers  # closing the subscription removed it
