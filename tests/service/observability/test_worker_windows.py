"""Drift windows with ``CLASSIFIER_WORKERS=2``: a real supervisor and two embedded gateways on shared ports.

Each worker keeps its own window; ``/metrics`` on either one shows the shares, the window size and the drift
of the live workers' windows summed. The test learns which worker answers each connection (``/readyz``
names it), feeds each worker one class, and checks the scraped series against the same numbers computed
offline from the answers both workers gave.
"""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
from gateway_support import gateway_env, gateway_process
from observability_support import metric_samples, text_body

from features.spec import ModelSpec
from service.observability.drift import jensen_shannon
from training.testing import tiny_input

WINDOW = 12
WORKER_HEADER = "X-Classifier-Worker"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _feed_each_worker(url: str, texts: list[str], workers: int, timeout_s: float = 300) -> dict[str, list[str]]:
    """Classify ``texts`` (one request) on fresh connections until every worker has answered at least once;
    the labels of each worker's last answer. A connection's worker is the one its ``/readyz`` names, asked
    before and after the classify request on that same connection."""
    last: dict[str, list[str]] = {}
    deadline = time.monotonic() + timeout_s
    while len(last) < workers:
        assert time.monotonic() < deadline, f"only workers {sorted(last)} answered"
        one_connection = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=one_connection) as http:
            try:
                before = await http.get("/readyz")
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            if before.status_code != 200:
                await asyncio.sleep(0.1)
                continue
            answer = await http.post("/v1/models/tiny-text:classify", json=text_body(*texts))
            assert answer.status_code == 200, answer.text
            after = await http.get("/readyz")
            worker = before.headers[WORKER_HEADER]
            assert after.headers[WORKER_HEADER] == worker  # the same connection, so the same worker answered
            last[worker] = [p["label"] for p in answer.json()["predictions"]]
    return last


async def test_two_workers_drift_is_the_score_of_their_summed_windows(models_dir: Path) -> None:
    spec = ModelSpec.from_json((models_dir / "tiny-text" / "1" / "assets.extra" / "spec.json").read_text())
    assert spec.class_baseline is not None
    env = gateway_env(
        CLASSIFIER_WORKERS="2",
        CLASSIFIER_HOST="127.0.0.1",
        CLASSIFIER_PORT=str(_free_port()),
        CLASSIFIER_GRPC_ENABLED="false",
        CLASSIFIER_MODELS_DIR=str(models_dir),
        CLASSIFIER_MODELS='["tiny-text"]',
        CLASSIFIER_MONITORING__DRIFT_WINDOW=str(WINDOW),
    )
    # One class only, WINDOW predictions per request: each worker's window then holds exactly its last
    # answer (a readiness self-check's sample is not observed).
    texts = [t for t in (tiny_input("tiny-text", "weather", seed=seed) for seed in range(WINDOW)) if isinstance(t, str)]
    assert len(texts) == WINDOW
    async with gateway_process(env) as gateway:
        last = await _feed_each_worker(gateway.url, texts, workers=2)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
            scrape = await http.get("/metrics")
    assert scrape.status_code == 200
    exposition = scrape.text

    labels = [label for answer in last.values() for label in answer]
    assert len(labels) == 2 * WINDOW
    counts = [labels.count(label) for label in spec.labels]
    shares = [count / len(labels) for count in counts]
    offline = jensen_shannon(shares, spec.class_baseline)
    key = (("model", "tiny-text"), ("version", "1"))
    assert metric_samples(exposition, "classifier_class_drift") == {key: offline}
    assert metric_samples(exposition, "classifier_class_window_predictions") == {key: 2 * WINDOW}
    by_label = {label: (("label", label), ("model", "tiny-text"), ("version", "1")) for label in spec.labels}
    scraped_shares = metric_samples(exposition, "classifier_class_share")
    scraped_counts = metric_samples(exposition, "classifier_class_window_count")
    scraped_baseline = metric_samples(exposition, "classifier_class_baseline")
    for label, count, share, base in zip(spec.labels, counts, shares, spec.class_baseline, strict=True):
        assert scraped_counts[by_label[label]] == count
        assert scraped_shares[by_label[label]] == share
        assert scraped_baseline[by_label[label]] == base
    # The histograms sum every prediction of both workers.
    assert metric_samples(exposition, "classifier_prediction_confidence_count")[key] >= 2 * WINDOW
    print(f"\ntwo workers, one class: last answers {last}")
    print(f"drift scraped {metric_samples(exposition, 'classifier_class_drift')[key]!r} == offline {offline!r}")
