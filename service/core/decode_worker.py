"""What a decode worker process runs: one input through ``features.preprocess``, then the heap trimmed.

Imports only the feature package (no TensorFlow, no gateway), so a worker starts in well under a second
from the forkserver and holds only what decoding needs.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import numpy as np
import numpy.typing as npt

from features import preprocess
from features.limits import InputLimits
from features.spec import ModelSpec


def preprocess_in_worker(raw: bytes | str, spec: ModelSpec, limits: InputLimits) -> npt.NDArray[np.generic]:
    """``features.preprocess`` in a worker; afterwards the decode's freed pages go back to the OS."""
    try:
        return preprocess(raw, spec, limits)
    finally:
        _trim()


def _trim() -> None:
    # A 6,000-pixel-square decode leaves hundreds of MB in glibc's arenas; without a trim every worker
    # would keep its largest decode's footprint until it is recycled.
    name = ctypes.util.find_library("c")
    if name is not None:
        with contextlib.suppress(AttributeError):  # not glibc
            ctypes.CDLL(name).malloc_trim(0)
