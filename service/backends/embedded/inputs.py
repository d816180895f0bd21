"""Checks a batch against a version's spec before it may join other requests' rows in a model call.

A bad row must fail its own request with InvalidInput, never the whole batch it would be coalesced
into, and never silently: on a GPU an out-of-range token id reads as zeros instead of raising.
"""

from __future__ import annotations

import numpy as np

from features.spec import ModelSpec, TextFeatures
from service.errors import InvalidInput


def check_inputs(inputs: object, spec: ModelSpec) -> np.ndarray:
    """``inputs`` as a C-contiguous array if its dtype, shape and values fit ``spec``; else InvalidInput."""
    features = spec.features
    if not isinstance(inputs, np.ndarray):
        raise InvalidInput(f"inputs must be a numpy array, not {type(inputs).__name__}")
    want = f"{features.input_dtype} [N, {', '.join(map(str, features.input_shape))}]"
    if inputs.dtype != np.dtype(features.input_dtype):
        raise InvalidInput(f"inputs are {inputs.dtype}, the model version wants {want}")
    if inputs.shape[1:] != features.input_shape or inputs.ndim != len(features.input_shape) + 1:
        raise InvalidInput(f"inputs have shape {list(inputs.shape)}, the model version wants {want}")
    if len(inputs) == 0:
        raise InvalidInput("inputs have no rows")
    if isinstance(features, TextFeatures):
        low, high = int(inputs.min()), int(inputs.max())
        if low < 0 or high >= len(features.vocabulary):
            raise InvalidInput(f"token ids must be in [0, {len(features.vocabulary)}); got values from {low} to {high}")
    elif inputs.dtype.kind == "f" and not np.isfinite(inputs).all():
        raise InvalidInput("inputs hold NaN or infinite values")
    return np.ascontiguousarray(inputs)
