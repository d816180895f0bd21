"""Per-request budgets: what all inputs of one request may cost together, checked from headers before decoding.

Each input is bounded by :class:`~features.limits.InputLimits`; a request of many inputs at those
bounds would still cost many times as much, so the inputs of one request share a budget of decoded
pixels, decoded audio samples (frames x channels) or text characters. The costs come from headers
only (:func:`~features.image.measure_image`, :func:`~features.audio.measure_audio`), which are upper
bounds of what decoding produces, so no input is decoded before the whole request is known to fit.
"""

from __future__ import annotations

from collections.abc import Sequence

from features.audio import measure_audio
from features.errors import InputTooLarge
from features.image import measure_image
from features.limits import InputLimits
from features.spec import AudioFeatures, ImageFeatures, ModelSpec, TextFeatures


def request_cost(
    inputs: Sequence[bytes | str], spec: ModelSpec | ImageFeatures | TextFeatures | AudioFeatures, limits: InputLimits
) -> int:
    """The request's total cost in its modality's unit (pixels, samples, characters).

    Inputs of the wrong type or unreadable headers count 0: preprocessing refuses them one by one.
    Raises InputTooLarge for one input past its own limit, as preprocessing would.
    """
    features = spec.features if isinstance(spec, ModelSpec) else spec
    if isinstance(features, TextFeatures):
        return sum(len(raw) for raw in inputs if isinstance(raw, str))
    measure = measure_image if isinstance(features, ImageFeatures) else measure_audio
    return sum(measure(raw, limits) for raw in inputs if isinstance(raw, bytes) and raw)


def check_request_budget(
    inputs: Sequence[bytes | str], spec: ModelSpec | ImageFeatures | TextFeatures | AudioFeatures, limits: InputLimits
) -> None:
    """InputTooLarge when the inputs of one request together exceed the modality's request budget."""
    features = spec.features if isinstance(spec, ModelSpec) else spec
    if isinstance(features, TextFeatures):
        budget, unit = limits.max_request_text_chars, "characters"
    elif isinstance(features, ImageFeatures):
        budget, unit = limits.max_request_image_pixels, "decoded pixels"
    else:
        budget, unit = limits.max_request_audio_samples, "audio samples (frames x channels)"
    cost = request_cost(inputs, features, limits)
    if cost > budget:
        raise InputTooLarge(f"the request's inputs hold {cost} {unit} together; the limit is {budget} per request")
