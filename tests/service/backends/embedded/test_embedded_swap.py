"""Versions coming and going while requests run: nothing fails, every answer is from its pinned version."""

from __future__ import annotations

import asyncio
import os
import shutil

import numpy as np
import pytest
from embedded_support import BackendRunner, DirectModel, RepoMaker, VersionPlacer, settings_for, wait_for_states

from service.backends.base import VersionState
from service.backends.embedded import EmbeddedBackend
from service.errors import VersionNotFound

AVAILABLE = VersionState.AVAILABLE
UNLOADING = VersionState.UNLOADING
END = VersionState.END


def _images(count: int) -> np.ndarray:
    return np.random.default_rng(11).integers(0, 256, size=(count, 16, 16, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def expected(direct_models: dict[str, DirectModel]) -> dict[int, np.ndarray]:
    """Per version of tiny-image, the reference answer for every test image (the two must differ)."""
    images = _images(6)
    answers = {1: direct_models["image-1"].per_row(images), 2: direct_models["image-2"].per_row(images)}
    assert not np.allclose(answers[1], answers[2], atol=1e-3), "versions 1 and 2 must be told apart"
    return answers


async def _serve_traffic(
    backend: EmbeddedBackend, stop: asyncio.Event, answers: list[tuple[int, int, np.ndarray]], worker: int
) -> None:
    """Resolve like the classify core (newest AVAILABLE), fetch the spec, 'preprocess', then predict pinned."""
    images = _images(6)
    rng = np.random.default_rng(worker)
    while not stop.is_set():
        version = (await backend.model_status("tiny-image")).available()[0]
        await backend.get_spec("tiny-image", version)
        await asyncio.sleep(float(rng.uniform(0, 0.02)))
        index = int(rng.integers(0, len(images)))
        answer = await backend.predict("tiny-image", version, images[index : index + 1], timeout=10)
        answers.append((version, index, answer[0]))


async def _watch(backend: EmbeddedBackend, stop: asyncio.Event, seen: list[dict[int, VersionState]]) -> None:
    while not stop.is_set():
        status = await backend.model_status("tiny-image")
        seen.append({v.version: v.state for v in status.versions})
        await asyncio.sleep(0.005)


async def test_new_version_swaps_in_while_requests_run_and_none_fails(
    make_repo: RepoMaker, run_backend: BackendRunner, place: VersionPlacer, expected: dict[int, np.ndarray]
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}})
    backend = await run_backend(settings_for(repo, request_timeout_s=1.0))
    await wait_for_states(backend, "tiny-image", {1: AVAILABLE})
    stop = asyncio.Event()
    answers: list[tuple[int, int, np.ndarray]] = []
    seen: list[dict[int, VersionState]] = []
    workers = [asyncio.create_task(_serve_traffic(backend, stop, answers, i)) for i in range(6)]
    watcher = asyncio.create_task(_watch(backend, stop, seen))
    await asyncio.sleep(0.3)

    await asyncio.to_thread(place, repo / "tiny-image", 2, "image-2")
    await wait_for_states(backend, "tiny-image", {2: AVAILABLE})
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*workers, watcher)  # any failed request fails the test here

    for version, index, answer in answers:
        np.testing.assert_allclose(answer, expected[version][index], rtol=1e-4, atol=1e-5)
    assert {version for version, _, _ in answers} == {1, 2}
    assert all(any(state is AVAILABLE for state in snapshot.values()) for snapshot in seen), "a gap in service"
    assert {1: AVAILABLE, 2: VersionState.LOADING} in seen, "the old version did not serve while the new loaded"
    assert {2: AVAILABLE, 1: UNLOADING} in seen


async def test_unloading_version_serves_pinned_requests_until_its_grace_ends(
    make_repo: RepoMaker, run_backend: BackendRunner, place: VersionPlacer, expected: dict[int, np.ndarray]
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}})
    backend = await run_backend(settings_for(repo, request_timeout_s=1.5))
    await wait_for_states(backend, "tiny-image", {1: AVAILABLE})

    place(repo / "tiny-image", 2, "image-2")
    await wait_for_states(backend, "tiny-image", {2: AVAILABLE, 1: UNLOADING})

    assert (await backend.get_spec("tiny-image", 1)).name == "tiny-image"
    answer = await backend.predict("tiny-image", 1, _images(1), timeout=5)
    np.testing.assert_allclose(answer[0], expected[1][0], rtol=1e-4, atol=1e-5)
    await wait_for_states(backend, "tiny-image", {2: AVAILABLE})
    with pytest.raises(VersionNotFound):
        await backend.predict("tiny-image", 1, _images(1), timeout=5)


async def test_removed_version_folder_is_retired_and_the_rest_keep_serving(
    make_repo: RepoMaker, run_backend: BackendRunner, place: VersionPlacer, expected: dict[int, np.ndarray]
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1", 2: "image-2"}})
    backend = await run_backend(settings_for(repo, version_policy="all", request_timeout_s=0.5))
    await wait_for_states(backend, "tiny-image", {2: AVAILABLE, 1: AVAILABLE})

    hidden = repo / "tiny-image" / ".removed-2"
    os.rename(repo / "tiny-image" / "2", hidden)
    shutil.rmtree(hidden)

    await wait_for_states(backend, "tiny-image", {2: UNLOADING, 1: AVAILABLE})
    await wait_for_states(backend, "tiny-image", {1: AVAILABLE})
    answer = await backend.predict("tiny-image", 1, _images(1), timeout=5)
    np.testing.assert_allclose(answer[0], expected[1][0], rtol=1e-4, atol=1e-5)


async def test_new_version_that_fails_to_load_leaves_the_old_one_serving(
    make_repo: RepoMaker, run_backend: BackendRunner, place: VersionPlacer
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}})
    backend = await run_backend(settings_for(repo))
    await wait_for_states(backend, "tiny-image", {1: AVAILABLE})

    place(repo / "tiny-image", 2, "garbage")

    await wait_for_states(backend, "tiny-image", {2: END, 1: AVAILABLE})
    assert (await backend.model_status("tiny-image")).available() == [1]
    assert (await backend.predict("tiny-image", 1, _images(2), timeout=5)).shape == (2, 3)


async def test_version_wanted_again_during_its_grace_stays_available(
    make_repo: RepoMaker, run_backend: BackendRunner, place: VersionPlacer
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}})
    backend = await run_backend(settings_for(repo, request_timeout_s=30))
    await wait_for_states(backend, "tiny-image", {1: AVAILABLE})
    place(repo / "tiny-image", 2, "image-2")
    await wait_for_states(backend, "tiny-image", {2: AVAILABLE, 1: UNLOADING})

    shutil.rmtree(repo / "tiny-image" / "2")  # the operator rolls back

    await wait_for_states(backend, "tiny-image", {2: UNLOADING, 1: AVAILABLE})
    assert (await backend.predict("tiny-image", 1, _images(1), timeout=5)).shape == (1, 3)
