"""The drift score and its window, checked against hand-computed values."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from service.observability.drift import ClassWindow, jensen_shannon


def test_jensen_shannon_bounds_and_symmetry() -> None:
    assert jensen_shannon([0.5, 0.5], [0.5, 0.5]) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert jensen_shannon([0.9, 0.1], [0.2, 0.8]) == pytest.approx(jensen_shannon([0.2, 0.8], [0.9, 0.1]))


def test_jensen_shannon_of_one_class_against_uniform() -> None:
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4): KL(p||m) = log2(4/3), KL(q||m) = 1/2 log2(2/3) + 1/2 log2(2)
    expected = (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5) / 2
    assert jensen_shannon([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected)


def test_window_slides() -> None:
    window = ClassWindow(3, size=4)
    window.add([0, 0, 1])
    assert window.shares().tolist() == pytest.approx([2 / 3, 1 / 3, 0])
    window.add([2, 2, 2])
    assert len(window) == 4
    assert window.counts.tolist() == [0, 1, 3]


def test_a_mirror_follows_every_count_change() -> None:
    mirrored = [0, 0, 0]

    def teller(index: int) -> Callable[[int], None]:
        def told(change: int) -> None:
            mirrored[index] += change

        return told

    window = ClassWindow(3, size=4, mirror=[teller(i) for i in range(3)])
    window.add([0, 0, 1])
    window.add([2, 2, 2])
    assert mirrored == window.counts.tolist() == [0, 1, 3]


def test_the_score_does_not_depend_on_the_order_of_the_classes() -> None:
    p, q = [0.1, 0.7, 0.05, 0.15], [0.3, 0.3, 0.2, 0.2]
    order = [0, 3, 2, 1]  # an order whose plain NumPy sum differs in the last bit
    assert jensen_shannon(p, q) == jensen_shannon([p[i] for i in order], [q[i] for i in order])
