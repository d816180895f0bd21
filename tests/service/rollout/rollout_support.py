"""Helpers of the rollout tests: settings of a rollout gateway, the rollout API calls, sample texts, and the
offline comparison (both versions' SavedModels run in the test process, figures computed here by hand)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gateway_support import gateway_env, gateway_process, wait_ready

from service.settings import RolloutSettings, Settings
from training.testing import TINY_LABELS, tiny_input

MODEL = "tiny-text"
#: Versions of the test repository: 1 stable, 2 a byte copy of 1, 3 trained apart (answers differ),
#: 4 an image model (fails every text input), 5 a broken folder (never AVAILABLE).
STABLE, SAME, OTHER, FAILING, BROKEN = 1, 2, 3, 4, 5
POLL_S = 0.2


def rollout_settings(models_dir: Path, state_path: Path, **overrides: Any) -> Settings:
    """A loopback gateway serving every version of tiny-text, with rollouts on ``state_path``."""
    values: dict[str, Any] = {
        "models_dir": models_dir,
        "models": [MODEL],
        "version_policy": "all",
        "host": "127.0.0.1",
        "port": 0,
        "grpc_port": 0,
        "poll_interval_s": POLL_S,
        "preprocess_threads": 2,
        "inference_threads": 1,
        "rollout": RolloutSettings(path=state_path, seed=16, shadow_max_concurrent=64),
    }
    values.update(overrides)
    return Settings(**values)


async def ready(url: str, timeout_s: float = 300.0) -> None:
    """Wait for /readyz 200 at ``url``. A connection cut while models load is retried: on a busy machine,
    loading five versions can stall the server's loop past its header timer, which then closes the socket."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                await wait_ready(client, timeout_s=timeout_s)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


def texts(count: int, *, seed: int = 0) -> list[str]:
    """``count`` texts: clean sentences of each label, and mixtures of two labels' sentences, which
    versions trained apart answer differently more often."""
    labels = TINY_LABELS[MODEL]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        first = str(tiny_input(MODEL, labels[i % len(labels)], seed=seed * 1000 + i))
        if i % 2:
            other = labels[int(rng.integers(len(labels)))]
            first = f"{first} {tiny_input(MODEL, other, seed=seed * 1000 + i + 500)}"
        out.append(first)
    return out


async def classify(client: httpx.AsyncClient, text: str, *, key: str | None = None) -> int:
    """Classify one unpinned text; returns the version that answered (fails on anything but 200)."""
    headers = {"X-Routing-Key": key} if key is not None else {}
    response = await client.post(f"/v1/models/{MODEL}:classify", json={"instances": [{"text": text}]}, headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["version"])


async def start(client: httpx.AsyncClient, candidate: int, **fields: Any) -> dict[str, Any]:
    """``POST :start``; returns the report (fails on anything but 200)."""
    response = await client.post(f"/v1/models/{MODEL}/rollout:start", json={"candidate": candidate, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def report(client: httpx.AsyncClient) -> dict[str, Any]:
    """``GET /v1/models/tiny-text/rollout``."""
    response = await client.get(f"/v1/models/{MODEL}/rollout")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def report_when(client: httpx.AsyncClient, condition: Any, timeout_s: float = 20.0) -> dict[str, Any]:
    """Poll the report until ``condition(report)`` holds; returns it."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = await report(client)
        if condition(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s: {body}")
        await asyncio.sleep(0.05)


def offline_figures(
    primary: np.ndarray, candidate: np.ndarray, labels: Sequence[str]
) -> tuple[dict[str, dict[str, int]], float, float]:
    """Flips (primary label -> candidate label), agreement and mean Jensen-Shannon divergence (bits),
    computed here from two probability batches with plain NumPy."""
    top_p, top_c = primary.argmax(axis=1), candidate.argmax(axis=1)
    flips: dict[str, dict[str, int]] = {}
    for a, b in zip(top_p.tolist(), top_c.tolist(), strict=True):
        if a != b:
            row = flips.setdefault(labels[a], {})
            row[labels[b]] = row.get(labels[b], 0) + 1
    p = primary / primary.sum(axis=1, keepdims=True)
    q = candidate / candidate.sum(axis=1, keepdims=True)
    m = (p + q) / 2

    def kl(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log2(x / y), 0.0)
        return np.asarray(terms.sum(axis=1))

    divergence = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    return flips, float(np.mean(top_p == top_c)), float(divergence.mean())


_serving: dict[Path, Any] = {}


def reference_probabilities(version_dir: Path, raws: Sequence[str]) -> np.ndarray:
    """What the SavedModel itself answers in this process for these texts, one row each."""
    import tensorflow as tf

    from features import preprocess
    from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE, read_spec

    spec = read_spec(version_dir)
    if version_dir not in _serving:
        _serving[version_dir] = tf.saved_model.load(str(version_dir)).signatures[SERVING_SIGNATURE]
    batch = np.stack([preprocess(raw, spec) for raw in raws])
    return np.asarray(_serving[version_dir](**{spec.features.input_name: batch})[PROBABILITIES_OUTPUT])


def metric_value(exposition: str, name: str, **labels: str) -> float | None:
    """The value of the sample of ``name`` whose labels include ``labels`` (Prometheus text), or None."""
    for line in exposition.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        inner = head[len(name) + 1 : head.rindex("}")]
        found = dict(part.split("=", 1) for part in inner.split(","))
        if all(found.get(key) == f'"{wanted}"' for key, wanted in labels.items()):
            return float(value)
    return None


@asynccontextmanager
async def rollout_gateway(models_dir: Path, state_path: Path, **extra_env: str) -> AsyncIterator[httpx.AsyncClient]:
    """``python -m service`` on a free loopback port with rollouts in ``state_path``, ready; SIGTERM and a
    clean exit on leaving."""
    settings = {
        "CLASSIFIER_MODELS_DIR": str(models_dir),
        "CLASSIFIER_MODELS": f'["{MODEL}"]',
        "CLASSIFIER_VERSION_POLICY": "all",
        "CLASSIFIER_GRPC_ENABLED": "false",
        "CLASSIFIER_POLL_INTERVAL_S": "0.2",
        "CLASSIFIER_ROLLOUT__PATH": str(state_path),
        "CLASSIFIER_ROLLOUT__SHADOW_MAX_CONCURRENT": "64",
    }
    env = gateway_env(**(settings | extra_env))  # the caller's settings win
    async with gateway_process(env) as gateway:
        await ready(gateway.url)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
            yield client
