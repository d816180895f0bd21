"""New versions arrive while requests run through the gateway in TF Serving mode: none is lost."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter

import httpx
from tfserving_support import gateway_config, model_server_config, running_gateway, serving, wait_available

from service.backends.embedded import EmbeddedBackend
from service.metrics import Metrics
from training.testing import tiny_input

BODY = {"instances": [{"text": str(tiny_input("tiny-text", "sport"))}]}


def _publish(repository, version: int) -> None:
    """Copy version 1 to ``version`` the way an exporter does: write aside, then rename into place."""
    staging = repository / "tiny-text" / f".staging-{version}"
    shutil.copytree(repository / "tiny-text" / "1", staging)
    staging.rename(repository / "tiny-text" / str(version))


async def test_versions_swap_under_load_without_a_failed_request(tiny_models, tmp_path):
    repository = tmp_path / "models"
    shutil.copytree(tiny_models / "tiny-text" / "1", repository / "tiny-text" / "1")
    settings = model_server_config(repository)
    backend = EmbeddedBackend(settings, Metrics())
    await backend.start()
    try:
        await wait_available(backend, ["tiny-text"])
        async with (
            serving(backend, settings) as server,
            running_gateway(gateway_config(repository, f"127.0.0.1:{server.port}")) as gateway,
            httpx.AsyncClient(base_url=gateway.rest.url, timeout=30) as client,
        ):
            answers: Counter[int | str] = Counter()
            stop = asyncio.Event()

            async def keep_asking() -> None:
                while not stop.is_set():
                    response = await client.post("/v1/models/tiny-text:classify", json=BODY)
                    answers[response.json()["version"] if response.status_code == 200 else response.text] += 1

            async def until_gateway_uses(version: int) -> None:
                started = time.monotonic()
                while answers[version] < 20:
                    assert time.monotonic() - started < 120, f"version {version} never answered: {answers}"
                    await asyncio.sleep(0.05)

            workers = [asyncio.create_task(keep_asking()) for _ in range(4)]
            try:
                await until_gateway_uses(1)
                _publish(repository, 2)  # 1 and 2 served (one version of margin)
                await until_gateway_uses(2)
                _publish(repository, 3)  # 3 loads, 1 unloads while the gateway still routes to 2
                await until_gateway_uses(3)
            finally:
                stop.set()
                await asyncio.gather(*workers)
            failures = {key: n for key, n in answers.items() if not isinstance(key, int)}
            assert not failures, failures
            assert {1, 2, 3} <= set(answers)
            print(f"\nversion swap under load: answers per version {dict(answers)}")
    finally:
        await backend.close()
