"""Preprocessing parameters for a new model: per-modality defaults and the few knobs the CLI exposes.

Text is the one modality whose spec depends on data: its vocabulary is built from the
training split with ``features.text.build_vocabulary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from features.spec import AudioFeatures, FeatureSpec, ImageFeatures, Modality, TextFeatures


@dataclass(frozen=True)
class FeatureOptions:
    """The preprocessing choices a caller may make; everything else keeps its spec default."""

    image_height: int = 64
    image_width: int = 64
    color_mode: Literal["grayscale", "rgb"] = "rgb"
    polarity: Literal["as_is", "light_on_dark"] = "as_is"
    max_tokens: int = 20_000
    min_count: int = 1
    sequence_length: int = 200
    char_ngram_sizes: tuple[int, ...] = ()
    char_ngram_buckets: int = 0
    char_ngram_length: int = 0
    audio_align: Literal["start", "loudest"] = "start"
    clip_seconds: float = 1.0


def build_features(modality: Modality, options: FeatureOptions, train_texts: Sequence[str] = ()) -> FeatureSpec:
    """The feature spec for a new model; ``train_texts`` (the training split) feed the vocabulary."""
    if modality == "image":
        return ImageFeatures(
            height=options.image_height,
            width=options.image_width,
            color_mode=options.color_mode,
            polarity=options.polarity,
        )
    if modality == "text":
        from features.text import build_vocabulary

        if not train_texts:
            raise ValueError("a text model needs training texts to build its vocabulary")
        vocabulary = build_vocabulary(train_texts, max_tokens=options.max_tokens, min_count=options.min_count)
        return TextFeatures(
            vocabulary=tuple(vocabulary),
            sequence_length=options.sequence_length,
            char_ngram_sizes=options.char_ngram_sizes,
            char_ngram_buckets=options.char_ngram_buckets,
            char_ngram_length=options.char_ngram_length,
        )
    return AudioFeatures(align=options.audio_align, clip_seconds=options.clip_seconds)
