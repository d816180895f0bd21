"""Confidence and drift metrics of a real gateway, scraped from /metrics and compared with values computed
offline from the answers the gateway gave."""

from __future__ import annotations

from pathlib import Path

import httpx
from gateway_support import running_gateway
from observability_support import metric_samples, observed_settings, text_body

from features.spec import ModelSpec
from service.observability.drift import jensen_shannon
from service.settings import MonitoringSettings
from training.testing import tiny_input

WINDOW = 40
THRESHOLD = 0.9


async def test_one_class_feed_drift_equals_the_offline_score(models_dir: Path) -> None:
    settings = observed_settings(
        models_dir,
        models=["tiny-text"],
        grpc_enabled=False,
        monitoring=MonitoringSettings(drift_window=WINDOW, low_confidence_threshold=THRESHOLD),
    )
    spec = ModelSpec.from_json((models_dir / "tiny-text" / "1" / "assets.extra" / "spec.json").read_text())
    assert spec.class_baseline is not None
    async with (
        running_gateway(settings) as gateway,
        httpx.AsyncClient(base_url=gateway.rest.url, timeout=60) as client,
    ):
        # Exactly WINDOW predictions of one class (the readiness self-check's sample is not observed).
        texts = [tiny_input("tiny-text", "weather", seed=seed) for seed in range(WINDOW)]
        response = await client.post(
            "/v1/models/tiny-text:classify", json=text_body(*[t for t in texts if isinstance(t, str)])
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        exposition = (await client.get("/metrics")).text

    labels = [p["label"] for p in predictions]
    shares = [labels.count(label) / WINDOW for label in spec.labels]
    offline = jensen_shannon(shares, spec.class_baseline)
    key = (("model", "tiny-text"), ("version", "1"))
    assert metric_samples(exposition, "classifier_class_drift")[key] == offline
    assert metric_samples(exposition, "classifier_class_window_predictions")[key] == WINDOW
    scraped_shares = metric_samples(exposition, "classifier_class_share")
    for label, share in zip(spec.labels, shares, strict=True):
        assert scraped_shares[(("label", label), ("model", "tiny-text"), ("version", "1"))] == share
    low = sum(1 for p in predictions if p["score"] < THRESHOLD)
    assert metric_samples(exposition, "classifier_low_confidence_predictions_total")[key] == low
    assert metric_samples(exposition, "classifier_prediction_confidence_count")[key] == WINDOW
    assert metric_samples(exposition, "classifier_prediction_entropy_count")[key] == WINDOW
    print(f"\none-class feed: shares {dict(zip(spec.labels, shares, strict=True))}, baseline {spec.class_baseline},")
    print(f"drift scraped {metric_samples(exposition, 'classifier_class_drift')[key]!r} == offline {offline!r}")
