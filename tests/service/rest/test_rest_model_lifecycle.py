"""Readiness before and after a model arrives, and a new version appearing while requests run."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rest_support import gateway_settings, probabilities_of, reference_probabilities, running_gateway, wait_ready

from training.testing import TINY_LABELS, build_tiny_models

TEXT = "We like the football match and the goal."


def _publish(version_dir: Path, model_dir: Path, version: int) -> None:
    """Copy a version into a repository the way an exporter does: a hidden folder renamed into place."""
    staging = model_dir / f".staging-{version}"
    shutil.copytree(version_dir, staging)
    staging.rename(model_dir / str(version))


async def test_readiness_follows_the_repository_and_a_new_version_takes_over_without_failures(
    tiny_models: Path, tmp_path: Path
) -> None:
    # A second tiny-text, trained for fewer epochs, so its answers differ from version 1's.
    retrained = build_tiny_models(tmp_path / "retrained", names=("tiny-text",), epochs=3)["tiny-text"]
    references = {
        1: reference_probabilities(tiny_models / "tiny-text" / "1", [TEXT])[0],
        2: reference_probabilities(retrained, [TEXT])[0],
    }
    assert np.abs(references[1] - references[2]).max() > 1e-4, "the two versions must be told apart"
    repository = tmp_path / "models"
    repository.mkdir()
    labels = TINY_LABELS["tiny-text"]

    async with (
        running_gateway(gateway_settings(repository), ready=False) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        empty = await client.get("/readyz")
        assert empty.status_code == 503
        assert empty.json() == {"ready": False, "models": {"models": "no model found in the repository"}}

        (repository / "tiny-text").mkdir()
        _publish(tiny_models / "tiny-text" / "1", repository / "tiny-text", 1)
        assert (await wait_ready(client))["models"] == {"tiny-text": "ready"}

        answers: list[httpx.Response] = []
        stop = asyncio.Event()

        async def keep_asking() -> None:
            while not stop.is_set():
                answers.append(await client.post("/v1/models/tiny-text:classify", json={"instances": [{"text": TEXT}]}))

        workers = [asyncio.create_task(keep_asking()) for _ in range(4)]
        await asyncio.sleep(0.5)
        _publish(retrained, repository / "tiny-text", 2)
        try:
            await _until(lambda: any(_version(a) == 2 for a in answers[-8:]), timeout_s=60)
            await asyncio.sleep(0.5)  # and keep going on version 2 for a while
        finally:
            stop.set()
            await asyncio.gather(*workers)

        after = await client.get("/v1/models/tiny-text")

    failures = [(a.status_code, a.text) for a in answers if a.status_code != 200]
    assert not failures, failures[:3]
    versions = [_version(a) for a in answers]
    assert {1, 2} <= set(versions)
    assert versions[-1] == 2
    for answer in answers:
        body: dict[str, Any] = answer.json()
        np.testing.assert_allclose(
            probabilities_of(body["predictions"][0], labels), references[body["version"]], atol=1e-5
        )
    assert after.json()["default_version"] == 2


def _version(answer: httpx.Response) -> int | None:
    return answer.json().get("version") if answer.status_code == 200 else None


async def _until(condition: Any, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.05)
