"""Fixtures of the hostile-input suites: the specs of the tiny models' modalities."""

from __future__ import annotations

import pytest

from features.spec import AudioFeatures, ImageFeatures, TextFeatures


@pytest.fixture(scope="session")
def image_spec() -> ImageFeatures:
    return ImageFeatures(height=28, width=28, color_mode="grayscale", polarity="light_on_dark")


@pytest.fixture(scope="session")
def rgb_spec() -> ImageFeatures:
    return ImageFeatures(height=32, width=32, color_mode="rgb")


@pytest.fixture(scope="session")
def audio_spec() -> AudioFeatures:
    return AudioFeatures(sample_rate=16_000, clip_seconds=1.0)


@pytest.fixture(scope="session")
def text_spec() -> TextFeatures:
    return TextFeatures(vocabulary=("<pad>", "<unk>", "hello", "world", "a"), sequence_length=16)
