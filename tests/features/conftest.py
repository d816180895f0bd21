"""Fixtures for the feature tests: specs and factories that build image and WAV payloads in memory."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import soundfile
from PIL import Image

from features.spec import AudioFeatures, ImageFeatures, TextFeatures

EncodeImage = Callable[..., bytes]
EncodeWav = Callable[..., bytes]


@pytest.fixture
def encode_image() -> EncodeImage:
    """``encode_image(image, "PNG", **save_options) -> bytes``."""

    def encode(image: Image.Image, format: str, **options: Any) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format=format, **options)
        return buffer.getvalue()

    return encode


@pytest.fixture
def encode_wav() -> EncodeWav:
    """``encode_wav(samples, rate, subtype="PCM_16") -> bytes``; samples ``(n,)`` or ``(n, channels)``."""

    def encode(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
        return buffer.getvalue()

    return encode


@pytest.fixture
def glyph() -> np.ndarray:
    """A 40x30 dark "L"-shaped stroke on light paper: a stand-in for a scanned digit."""
    pixels = np.full((40, 30), 230, dtype=np.uint8)
    pixels[5:35, 8:13] = 20
    pixels[30:35, 8:24] = 20
    return pixels


@pytest.fixture
def gray_spec() -> ImageFeatures:
    return ImageFeatures(height=28, width=28, color_mode="grayscale", polarity="light_on_dark")


@pytest.fixture
def rgb_spec() -> ImageFeatures:
    return ImageFeatures(height=32, width=32, color_mode="rgb")


@pytest.fixture
def audio_spec() -> AudioFeatures:
    return AudioFeatures(sample_rate=16_000, clip_seconds=1.0)


@pytest.fixture
def text_spec() -> TextFeatures:
    return TextFeatures(vocabulary=("<pad>", "<unk>", "hello", "world", "strasse", "!"), sequence_length=6)


def tone(frequency: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """A sine wave, float64 ``(n,)``."""
    t = np.arange(round(rate * seconds)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * t)


@pytest.fixture
def make_tone() -> Callable[..., np.ndarray]:
    """``make_tone(frequency, rate, seconds, amplitude=0.5)``."""
    return tone
