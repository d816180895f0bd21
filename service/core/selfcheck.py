"""Real sample inputs for a spec, used by readiness to push one input through preprocess and predict."""

from __future__ import annotations

import io

import numpy as np
import soundfile
from PIL import Image

from features.spec import AudioFeatures, ImageFeatures, ModelSpec
from service.core.schemas import RawInput


def sample_input(spec: ModelSpec) -> RawInput:
    """An encoded input the version must be able to classify: a PNG, a WAV or a sentence."""
    features = spec.features
    if isinstance(features, ImageFeatures):
        gradient = np.linspace(0, 255, features.height * features.width, dtype=np.uint8)
        image = Image.fromarray(gradient.reshape(features.height, features.width), mode="L")
        buffer = io.BytesIO()
        image.convert("RGB" if features.color_mode == "rgb" else "L").save(buffer, format="PNG")
        return buffer.getvalue()
    if isinstance(features, AudioFeatures):
        t = np.arange(features.clip_samples) / features.sample_rate
        tone = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        buffer = io.BytesIO()
        soundfile.write(buffer, tone, features.sample_rate, format="WAV", subtype="PCM_16")
        return buffer.getvalue()
    return "readiness check"
