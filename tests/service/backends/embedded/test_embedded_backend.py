"""EmbeddedBackend over real tiny models: start, states, policies, errors, batching, overload, close."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from embedded_support import BackendRunner, DirectModel, RepoMaker, settings_for, wait_for_states

from features.spec import ModelSpec, TextFeatures
from service.backends.base import VersionState
from service.errors import (
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    Overloaded,
    VersionNotFound,
)
from service.metrics import Metrics
from service.settings import BatchingSettings

AVAILABLE = VersionState.AVAILABLE
END = VersionState.END


def _text_rows(spec: ModelSpec, count: int, seed: int) -> np.ndarray:
    features = spec.features
    assert isinstance(features, TextFeatures)
    rng = np.random.default_rng(seed)
    return rng.integers(0, len(features.vocabulary), size=(count, features.sequence_length)).astype(np.int32)


def _batch_count(metrics: Metrics, model: str, version: int) -> tuple[float, float]:
    count = metrics.registry.get_sample_value("classifier_batch_size_count", {"model": model, "version": str(version)})
    rows = metrics.registry.get_sample_value("classifier_batch_size_sum", {"model": model, "version": str(version)})
    return count or 0.0, rows or 0.0


async def test_start_returns_at_once_and_every_model_becomes_available(
    make_repo: RepoMaker, run_backend: BackendRunner
) -> None:
    repo = make_repo({"tiny-image": {1: "image-1"}, "tiny-text": {1: "text-1"}, "tiny-audio": {1: "audio-1"}})

    backend = await run_backend(settings_for(repo))

    first = {status.name: [v.state for v in status.versions] for status in await backend.list_models()}
    assert first == {name: [VersionState.LOADING] for name in ("tiny-audio", "tiny-image", "tiny-text")}
    for name in first:
        await wait_for_states(backend, name, {1: AVAILABLE})
        spec = await backend.get_spec(name, 1)
        assert spec.name == name
        rows = np.zeros((2, *spec.features.input_shape), spec.features.input_dtype)
        probabilities = await backend.predict(name, 1, rows, timeout=10)
        assert probabilities.shape == (2, len(spec.labels))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "want"),
    [
        ({}, {3: AVAILABLE}),
        ({"latest_versions": 2}, {3: AVAILABLE, 2: AVAILABLE}),
        ({"version_policy": "all"}, {3: AVAILABLE, 2: AVAILABLE, 1: AVAILABLE}),
        ({"version_policy": "specific", "specific_versions": {"tiny-text": [1, 3]}}, {3: AVAILABLE, 1: AVAILABLE}),
    ],
)
async def test_version_policy_decides_what_is_served(
    make_repo: RepoMaker, run_backend: BackendRunner, overrides: dict[str, object], want: dict[int, VersionState]
) -> None:
    repo = make_repo({"tiny-text": {1: "text-1", 2: "text-1", 3: "text-1"}})

    backend = await run_backend(settings_for(repo, **overrides))

    await wait_for_states(backend, "tiny-text", want)
    status = await backend.model_status("tiny-text")
    assert [v.version for v in status.versions] == sorted(want, reverse=True)


async def test_configured_models_restrict_what_is_served(make_repo: RepoMaker, run_backend: BackendRunner) -> None:
    repo = make_repo({"tiny-text": {1: "text-1"}, "tiny-audio": {1: "audio-1"}})

    backend = await run_backend(settings_for(repo, models=["tiny-text", "absent"]))

    assert [status.name for status in await backend.list_models()] == ["tiny-text"]
    with pytest.raises(ModelNotFound):
        await backend.model_status("tiny-audio")


async def test_broken_version_is_reported_without_harming_the_others_and_not_retried(
    make_repo: RepoMaker,
    run_backend: BackendRunner,
    tiny_versions: dict[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    repo = make_repo({"tiny-text": {1: "text-1", 2: "garbage"}, "tiny-audio": {1: "audio-1"}})
    caplog.set_level(logging.INFO, logger="service.backends.embedded.backend")

    backend = await run_backend(settings_for(repo, version_policy="all"))

    await wait_for_states(backend, "tiny-text", {2: END, 1: AVAILABLE})
    await wait_for_states(backend, "tiny-audio", {1: AVAILABLE})
    broken = (await backend.model_status("tiny-text")).versions[0]
    assert broken.error is not None and "cannot load the SavedModel" in broken.error
    with pytest.raises(ModelNotReady, match="cannot load"):
        await backend.predict("tiny-text", 2, np.zeros((1, 12), np.int32), timeout=5)
    spec = await backend.get_spec("tiny-text", 1)
    assert (await backend.predict("tiny-text", 1, _text_rows(spec, 1, 0), timeout=5)).shape == (1, 3)

    await asyncio.sleep(0.5)  # five polls: an unchanged broken folder is not loaded again
    loads = [r for r in caplog.records if r.getMessage().startswith("loading tiny-text version 2")]
    assert len(loads) == 1

    shutil_copy_into(tiny_versions["text-1"], repo / "tiny-text" / "2")
    await wait_for_states(backend, "tiny-text", {2: AVAILABLE, 1: AVAILABLE})


def shutil_copy_into(source: Path, target: Path) -> None:
    """Replace ``target``'s contents with ``source``'s (an operator fixing a version in place)."""
    shutil.rmtree(target)
    shutil.copytree(source, target)


async def test_unknown_names_and_bad_inputs_get_clear_errors(make_repo: RepoMaker, run_backend: BackendRunner) -> None:
    repo = make_repo({"tiny-text": {1: "text-1"}})
    backend = await run_backend(settings_for(repo))
    await wait_for_states(backend, "tiny-text", {1: AVAILABLE})
    spec = await backend.get_spec("tiny-text", 1)
    good = _text_rows(spec, 2, 1)

    with pytest.raises(ModelNotFound):
        await backend.predict("nope", 1, good, timeout=5)
    with pytest.raises(VersionNotFound):
        await backend.predict("tiny-text", 9, good, timeout=5)
    with pytest.raises(VersionNotFound):
        await backend.get_spec("tiny-text", 9)
    with pytest.raises(InvalidInput, match="int64"):
        await backend.predict("tiny-text", 1, good.astype(np.int64), timeout=5)
    with pytest.raises(InvalidInput, match=r"shape \[2, 11\]"):
        await backend.predict("tiny-text", 1, good[:, :11], timeout=5)
    with pytest.raises(InvalidInput, match="no rows"):
        await backend.predict("tiny-text", 1, good[:0], timeout=5)
    with pytest.raises(InvalidInput, match="token ids must be in"):
        await backend.predict("tiny-text", 1, good + 1000, timeout=5)
    with pytest.raises(InvalidInput, match="numpy array"):
        await backend.predict("tiny-text", 1, good.tolist(), timeout=5)


async def test_concurrent_predicts_are_batched_and_match_per_row_answers(
    make_repo: RepoMaker, run_backend: BackendRunner, direct_models: dict[str, DirectModel]
) -> None:
    repo = make_repo({"tiny-text": {1: "text-1"}})
    metrics = Metrics()
    batching = BatchingSettings(max_batch_size=16, batch_timeout_ms=20, max_queued_rows=512)
    backend = await run_backend(settings_for(repo, batching=batching), metrics)
    await wait_for_states(backend, "tiny-text", {1: AVAILABLE})
    spec = await backend.get_spec("tiny-text", 1)
    requests = [_text_rows(spec, 1 + i % 3, seed=i) for i in range(60)]
    before = _batch_count(metrics, "tiny-text", 1)

    answers = await asyncio.gather(*(backend.predict("tiny-text", 1, rows, timeout=30) for rows in requests))

    calls, rows = (a - b for a, b in zip(_batch_count(metrics, "tiny-text", 1), before, strict=True))
    assert rows == sum(len(r) for r in requests)
    assert calls < len(requests) / 3, f"{calls} model calls for {len(requests)} requests"
    direct = direct_models["text-1"]
    for request, answer in zip(requests, answers, strict=True):
        np.testing.assert_allclose(answer, direct.per_row(request), rtol=1e-5, atol=1e-6)


async def test_full_queue_refuses_with_overloaded(make_repo: RepoMaker, run_backend: BackendRunner) -> None:
    repo = make_repo({"tiny-text": {1: "text-1"}})
    batching = BatchingSettings(max_batch_size=4, batch_timeout_ms=1, max_queued_rows=8)
    backend = await run_backend(settings_for(repo, batching=batching, inference_threads=1))
    await wait_for_states(backend, "tiny-text", {1: AVAILABLE})
    spec = await backend.get_spec("tiny-text", 1)
    rows = _text_rows(spec, 1, 3)

    # Every submit runs before the collector does, so all 40 rows meet a queue bounded at 8.
    results = await asyncio.gather(
        *(backend.predict("tiny-text", 1, rows, timeout=30) for _ in range(40)), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, Overloaded)]
    answered = [r for r in results if isinstance(r, np.ndarray)]
    assert len(refused) == 32 and len(answered) == 8
    # Equal up to float rounding: the same rows batched with others run through kernels of another size.
    assert all(np.allclose(a, answered[0], rtol=0, atol=1e-6) for a in answered)
    again = await backend.predict("tiny-text", 1, rows, timeout=30)
    np.testing.assert_allclose(again, answered[0], rtol=0, atol=1e-6)


async def test_deadline_passing_while_queued_is_deadline_exceeded(
    make_repo: RepoMaker, run_backend: BackendRunner
) -> None:
    repo = make_repo({"tiny-text": {1: "text-1"}})
    batching = BatchingSettings(max_batch_size=64, batch_timeout_ms=500, max_queued_rows=512, eager_when_idle=False)
    backend = await run_backend(settings_for(repo, batching=batching))
    await wait_for_states(backend, "tiny-text", {1: AVAILABLE})
    spec = await backend.get_spec("tiny-text", 1)
    rows = _text_rows(spec, 1, 4)

    patient = asyncio.create_task(backend.predict("tiny-text", 1, rows, timeout=30))
    with pytest.raises(DeadlineExceeded, match="while queued"):
        await backend.predict("tiny-text", 1, rows, timeout=0.05)
    with pytest.raises(DeadlineExceeded):
        await backend.predict("tiny-text", 1, rows, timeout=0)

    assert (await patient).shape == (1, 3)


async def test_close_finishes_in_flight_requests_then_refuses(
    make_repo: RepoMaker, run_backend: BackendRunner, direct_models: dict[str, DirectModel]
) -> None:
    repo = make_repo({"tiny-audio": {1: "audio-1"}})
    batching = BatchingSettings(max_batch_size=4, batch_timeout_ms=2, max_queued_rows=512)
    backend = await run_backend(settings_for(repo, batching=batching, inference_threads=1))
    await wait_for_states(backend, "tiny-audio", {1: AVAILABLE})
    spec = await backend.get_spec("tiny-audio", 1)
    rng = np.random.default_rng(5)
    requests = [rng.normal(size=(2, *spec.features.input_shape)).astype(np.float32) for _ in range(30)]
    in_flight = [asyncio.create_task(backend.predict("tiny-audio", 1, rows, timeout=60)) for rows in requests]
    await asyncio.sleep(0)  # every request is queued; few have run

    await backend.close()

    assert all(task.done() for task in in_flight)
    direct = direct_models["audio-1"]
    for rows, task in zip(requests, in_flight, strict=True):
        np.testing.assert_allclose(task.result(), direct.per_row(rows), rtol=1e-4, atol=1e-5)
    with pytest.raises(ModelNotReady):
        await backend.predict("tiny-audio", 1, requests[0], timeout=5)
    assert [v.state for v in (await backend.model_status("tiny-audio")).versions] == [END]
