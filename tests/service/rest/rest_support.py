"""Helpers of the REST tests: gateway settings, readiness polling, problem checks, reference predictions."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from gateway_support import running_gateway, wait_ready  # noqa: F401  (re-exported to the suite)

from features import preprocess
from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE, read_spec
from features.spec import ModelSpec
from service.settings import RequestLimits, Settings

PROBLEM = "application/problem+json"
#: Limits of the ``tight_client`` server.
TIGHT_LIMITS = RequestLimits(max_body_bytes=4096, max_instances=2)


def gateway_settings(models_dir: Path, **overrides: Any) -> Settings:
    """Settings of a test gateway: loopback, a free port, REST only, a quick repository poll."""
    values: dict[str, Any] = {
        "models_dir": models_dir,
        "host": "127.0.0.1",
        "port": 0,
        "grpc_enabled": False,
        "grpc_port": 0,
        "poll_interval_s": 0.2,
        "preprocess_threads": 2,
        "inference_threads": 1,
    }
    values.update(overrides)
    return Settings(**values)


def assert_problem(response: httpx.Response, status: int, slug: str, *, detail_has: str = "") -> dict[str, Any]:
    """The response is an RFC 9457 problem of this status and kind, and leaks no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:classifier:problem:{slug}", body
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["instance"], body
    assert detail_has in body["detail"], body
    assert "Traceback" not in response.text
    return body


def b64(data: bytes) -> str:
    """Standard base64 text of ``data``."""
    return base64.b64encode(data).decode("ascii")


def spec_of(version_dir: Path) -> ModelSpec:
    """The spec a version was exported with."""
    return read_spec(version_dir)


@cache
def _serving_function(version_dir: Path) -> Any:
    import tensorflow as tf

    return tf.saved_model.load(str(version_dir)).signatures[SERVING_SIGNATURE]


def reference_probabilities(version_dir: Path, raws: Sequence[bytes | str]) -> np.ndarray:
    """What the SavedModel itself answers in this process for these raw inputs, one row each."""
    spec = spec_of(version_dir)
    batch = np.stack([preprocess(raw, spec) for raw in raws])
    outputs = _serving_function(version_dir)(**{spec.features.input_name: batch})
    return np.asarray(outputs[PROBABILITIES_OUTPUT])


def assert_answers(body: dict[str, Any], version_dir: Path, raws: Sequence[bytes | str]) -> None:
    """Prediction i is what the SavedModel itself answers for raw input i (order kept, labels right)."""
    labels = spec_of(version_dir).labels
    expected = reference_probabilities(version_dir, raws)
    predictions = body["predictions"]
    assert len(predictions) == len(raws)
    for i, prediction in enumerate(predictions):
        np.testing.assert_allclose(probabilities_of(prediction, labels), expected[i], atol=1e-5, err_msg=f"input {i}")
        assert prediction["label"] == labels[int(np.argmax(expected[i]))]


def probabilities_of(prediction: dict[str, Any], labels: Sequence[str]) -> np.ndarray:
    """A prediction's probabilities in label order."""
    return np.array([prediction["probabilities"][label] for label in labels])


def metric_samples(exposition: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Samples of one metric from Prometheus text: (labels, value)."""
    samples = []
    for line in exposition.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        labels: dict[str, str] = {}
        if "{" in head:
            inner = head[head.index("{") + 1 : head.rindex("}")]
            for part in filter(None, inner.split('",')):
                key, _, raw = part.partition("=")
                labels[key.strip()] = json.loads(raw if raw.endswith('"') else raw + '"')
        samples.append((labels, float(value)))
    return samples
