"""Keeps Python's cyclic garbage collector off the long-lived heap of a serving process.

TensorFlow and every loaded SavedModel leave hundreds of thousands of objects that live as long as the
process. Each full (generation 2) collection walks all of them: in the gateway, under load, that is a
pause of about 200 ms every few seconds, which set the p99 latency. ``freeze_after_loads`` follows the
backend's state changes; when the set of AVAILABLE model versions changed (a load or an unload
finished), it collects once and moves what is left into the permanent generation (``gc.freeze``),
which collections skip. Objects made afterwards,
per-request ones included, are collected as usual.
"""

from __future__ import annotations

import gc
import logging
import time

from service.backends.base import ModelBackend

log = logging.getLogger(__name__)


async def freeze_after_loads(backend: ModelBackend) -> None:
    """Run until cancelled: after each change of the AVAILABLE versions, ``gc.collect()`` then ``gc.freeze()``."""
    frozen: frozenset[tuple[str, int]] | None = None
    with backend.changes() as changes:
        async for state in changes:  # an unreachable backend lists nothing; readiness reports it
            available = frozenset((s.name, v) for s in state.models for v in s.available())
            if available and available != frozen:
                _freeze()
                frozen = available


def _freeze() -> None:
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    log.info(
        "heap: %d long-lived objects moved out of the collector's way in %.0f ms",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
