"""Prometheus instruments of rollouts, on the gateway's registry (``service.metrics.Metrics.registry``).

Per process, labelled by model, primary and candidate version, so a dashboard sums them over processes
and replicas: compared inputs, agreeing top-1s, the summed Jensen-Shannon divergence (divide by the
compared count for the mean), flips by label pair, each side's requests and errors and latency, and
shadow runs shed. Label values are bounded: models and versions the backend confirmed, labels of their specs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from service.rollout.comparison import LATENCY_BUCKETS

_PAIR = ["model", "primary", "candidate"]


class RolloutMetrics:
    """The rollout instruments; one per gateway process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.compared = Counter(
            "classifier_rollout_compared", "Inputs run on both versions and compared.", _PAIR, registry=registry
        )
        self.agreed = Counter(
            "classifier_rollout_agreed", "Compared inputs whose top-1 label was the same.", _PAIR, registry=registry
        )
        self.js_divergence = Counter(
            "classifier_rollout_js_divergence_bits",
            "Sum of the Jensen-Shannon divergence (bits) of compared inputs; / compared = mean.",
            _PAIR,
            registry=registry,
        )
        self.flips = Counter(
            "classifier_rollout_flips",
            "Compared inputs whose top-1 changed, by primary label and candidate label.",
            [*_PAIR, "source", "target"],
            registry=registry,
        )
        self.requests = Counter(
            "classifier_rollout_requests",
            "Requests (served or shadow) per side of a rollout and outcome.",
            ["model", "version", "side", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "classifier_rollout_seconds",
            "Latency per side of a rollout (served requests and shadow runs).",
            ["model", "version", "side"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.shed = Counter(
            "classifier_rollout_shadow_shed",
            "Sampled shadow runs dropped (shadow slots full, or the model's requests queueing).",
            ["model", "reason"],
            registry=registry,
        )
        self.transitions = Counter(
            "classifier_rollout_transitions",
            "Rollout transitions made by this process.",
            ["model", "action", "by"],
            registry=registry,
        )
