"""Checks a batch against a version's spec before it may join other requests' rows in a model call.

A bad row must fail its own request with InvalidInput, never the whole batch it would be coalesced
into, and never silently: on a GPU an out-of-range token id reads as zeros instead of raising.
"""

from __future__ import annotations

import numpy as np

from features.contract import BatchMismatch, check_batch
from features.spec import ModelSpec, TextFeatures
from service.errors import InvalidInput


def check_inputs(inputs: object, spec: ModelSpec) -> np.ndarray:
    """``inputs`` as a C-contiguous array if its dtype, shape (``features.contract``) and values fit ``spec``;
    else InvalidInput."""
    features = spec.features
    try:
        inputs = check_batch(inputs, features)
    except BatchMismatch as exc:
        raise InvalidInput(str(exc)) from exc
    if isinstance(features, TextFeatures):
        low, high = int(inputs.min()), int(inputs.max())
        if low < 0 or high >= len(features.vocabulary):
            raise InvalidInput(f"token ids must be in [0, {len(features.vocabulary)}); got values from {low} to {high}")
    elif inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
        raise InvalidInput("inputs hold NaN or infinite values")
    return np.ascontiguousarray(inputs)
