"""The feature package: the one place where raw inputs become model inputs.

Training and the serving gateway both call :func:`preprocess` (or the per-modality functions),
with the spec stored in the model version, so preprocessing cannot drift between the two.
Pure NumPy, Pillow, soundfile and SciPy; no TensorFlow.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from features.audio import log_mel, measure_audio, preprocess_audio, waveform_from_wav
from features.budget import check_request_budget, request_cost
from features.errors import FeatureError, InputTooLarge, UndecodableInput
from features.image import measure_image, preprocess_image, preprocess_image_array
from features.limits import InputLimits
from features.spec import AudioFeatures, FeatureSpec, ImageFeatures, Modality, ModelSpec, TextFeatures
from features.text import build_vocabulary, preprocess_text, tokenize

__all__ = [
    "AudioFeatures",
    "FeatureError",
    "FeatureSpec",
    "ImageFeatures",
    "InputLimits",
    "InputTooLarge",
    "Modality",
    "ModelSpec",
    "TextFeatures",
    "UndecodableInput",
    "build_vocabulary",
    "check_request_budget",
    "log_mel",
    "measure_audio",
    "measure_image",
    "preprocess",
    "preprocess_audio",
    "preprocess_image",
    "preprocess_image_array",
    "preprocess_text",
    "request_cost",
    "tokenize",
    "waveform_from_wav",
]


def preprocess(
    raw: bytes | str,
    spec: ModelSpec | ImageFeatures | TextFeatures | AudioFeatures,
    limits: InputLimits | None = None,
) -> npt.NDArray[np.generic]:
    """One raw input -> the model input for ``spec`` (shape ``input_shape``, dtype ``input_dtype``).

    Text models take ``str``; image and audio models take the file's ``bytes``. Any other
    type, or a failure to decode, raises :class:`UndecodableInput`; inputs over ``limits``
    raise :class:`InputTooLarge`.
    """
    features = spec.features if isinstance(spec, ModelSpec) else spec
    if isinstance(features, TextFeatures):
        if not isinstance(raw, str):
            raise UndecodableInput(f"a text model takes a string, not {type(raw).__name__}")
        return preprocess_text(raw, features, limits)
    if isinstance(raw, str):
        raise UndecodableInput(f"an {features.modality} model takes the file's bytes, not a string")
    if isinstance(features, ImageFeatures):
        return preprocess_image(raw, features, limits)
    return preprocess_audio(raw, features, limits)
