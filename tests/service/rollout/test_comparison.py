"""The comparison rule on known numbers: agreement, flips, Jensen-Shannon divergence, mergeable counts."""

from __future__ import annotations

import numpy as np

from service.rollout.comparison import ComparisonCounts, SideCounts, js_divergence

LABELS = ("a", "b", "c")


def test_identical_rows_agree_with_zero_divergence() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    counts = ComparisonCounts()
    counts.add(LABELS, p, p.copy())
    assert counts.agreement == 1.0 and counts.mean_js_divergence == 0.0 and counts.flips == {}


def test_disjoint_rows_diverge_by_one_bit_and_flip() -> None:
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    q = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    counts = ComparisonCounts()
    counts.add(LABELS, p, q)
    assert counts.compared == 3 and counts.agreed == 1
    assert counts.flips == {"a": {"b": 1}, "c": {"a": 1}}
    np.testing.assert_allclose(js_divergence(p, q), [1.0, 0.0, 1.0])
    assert abs((counts.mean_js_divergence or 0) - 2 / 3) < 1e-12


def test_counts_of_two_processes_add_up() -> None:
    p = np.array([[0.6, 0.3, 0.1]])
    q = np.array([[0.2, 0.7, 0.1]])
    one, two = ComparisonCounts(), ComparisonCounts()
    one.add(LABELS, p, q)
    two.add(LABELS, q, p)
    one.merge(two)
    assert one.compared == 2 and one.agreed == 0 and one.flips == {"a": {"b": 1}, "b": {"a": 1}}


def test_side_quantiles_come_from_summed_buckets() -> None:
    fast, slow = SideCounts(), SideCounts()
    for _ in range(99):
        fast.record(0.004, failed=False)
    slow.record(3.0, failed=True)
    fast.merge(slow)
    assert fast.requests == 100 and fast.errors == 1 and fast.error_rate == 0.01
    assert fast.quantile(0.5) == 0.005 and fast.quantile(0.99) == 0.005 and fast.quantile(1.0) == 5.0
    assert SideCounts().quantile(0.99) is None
