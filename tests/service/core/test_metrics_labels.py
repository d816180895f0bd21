"""Metric series are labelled only with models the backend confirmed, so made-up names add no series."""

from prometheus_client.parser import text_string_to_metric_families

from service.metrics import Metrics


def _stage_models(metrics: Metrics) -> set[str]:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return {
        sample.labels["model"]
        for family in families
        if family.name == "classifier_stage_seconds"
        for sample in family.samples
    }


def test_unknown_model_names_share_one_label():
    metrics = Metrics()
    for name in ("nope-1", "nope-2", "nope-3"):
        metrics.observe_stage("total", 0.001, model=name, version=None, surface="rest", status="ModelNotFound")

    assert _stage_models(metrics) == {Metrics.UNKNOWN_MODEL}


def test_known_model_keeps_its_name():
    metrics = Metrics()
    metrics.know_model("digits")
    metrics.observe_stage("total", 0.001, model="digits", version=1, surface="grpc", status="ok")

    assert _stage_models(metrics) == {"digits"}
