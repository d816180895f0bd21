"""The model spec: what a model version needs to turn raw inputs into its input tensor.

A spec travels inside every exported model version (as ``assets.extra/spec.json`` and
through the ``spec`` signature; ``features.contract`` names both), so the gateway preprocesses with the exact parameters
the version was trained with. Training builds it, the gateway only reads it.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    computed_field,
    field_validator,
    model_validator,
)

Modality = Literal["image", "text", "audio"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ImageFeatures(_Frozen):
    """Image preprocessing: decode, orient, convert colour, fit into ``height x width`` with padding."""

    modality: Literal["image"] = "image"
    height: int = Field(gt=0, le=4096)
    width: int = Field(gt=0, le=4096)
    color_mode: Literal["grayscale", "rgb"] = "rgb"
    polarity: Literal["as_is", "light_on_dark"] = Field(
        default="as_is",
        description="'light_on_dark' inverts images whose background is lighter than their"
        " foreground, so dark-on-light scans and light-on-dark renders look alike.",
    )

    @property
    def channels(self) -> int:
        return 1 if self.color_mode == "grayscale" else 3

    @property
    def input_name(self) -> str:
        return "image"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.height, self.width, self.channels)

    @property
    def input_dtype(self) -> str:
        return "uint8"


class TextFeatures(_Frozen):
    """Text preprocessing: Unicode normalisation, case folding, tokenisation, vocabulary lookup."""

    modality: Literal["text"] = "text"
    vocabulary: tuple[str, ...] = Field(
        description="Token for each id. Id 0 is padding, id 1 is the out-of-vocabulary token.",
        min_length=3,
    )
    sequence_length: int = Field(gt=0, le=100_000)
    normalization: Literal["NFC", "NFKC"] = "NFKC"
    lowercase: bool = True
    token_pattern: str = r"[^\W_]+|[^\w\s]"

    char_ngram_sizes: tuple[int, ...] = Field(
        default=(),
        max_length=4,
        description="Lengths of the character n-grams of each token (marked '<token>') hashed after the"
        " token ids, so misspellings, numbers and unseen words still share ids with known ones. Empty: off.",
    )
    char_ngram_buckets: int = Field(default=0, ge=0, le=1 << 20, description="Hash buckets for n-grams.")
    char_ngram_length: int = Field(default=0, ge=0, le=100_000, description="N-gram ids after the token ids.")

    pad_id: Literal[0] = 0
    oov_id: Literal[1] = 1

    @field_validator("vocabulary")
    @classmethod
    def _unique_tokens(cls, vocabulary: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(vocabulary, "vocabulary tokens")

    @model_validator(mode="after")
    def _ngrams_all_or_nothing(self) -> TextFeatures:
        settings = (bool(self.char_ngram_sizes), self.char_ngram_buckets > 0, self.char_ngram_length > 0)
        if len(set(settings)) != 1:
            raise ValueError("char_ngram_sizes, char_ngram_buckets and char_ngram_length are set together or not")
        if any(size < 1 or size > 16 for size in self.char_ngram_sizes):
            raise ValueError("char n-gram sizes must be between 1 and 16")
        return self

    @property
    def id_count(self) -> int:
        """Ids the model must embed: the vocabulary's, then the n-gram buckets'."""
        return len(self.vocabulary) + self.char_ngram_buckets

    @property
    def input_name(self) -> str:
        return "token_ids"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.sequence_length + self.char_ngram_length,)

    @property
    def input_dtype(self) -> str:
        return "int32"


class AudioFeatures(_Frozen):
    """Audio preprocessing: decode WAV, mix to mono, resample, fit to a clip, log-mel spectrogram."""

    modality: Literal["audio"] = "audio"
    sample_rate: int = Field(default=16_000, ge=8_000, le=48_000)
    clip_seconds: float = Field(default=1.0, gt=0, le=60)
    align: Literal["start", "loudest"] = Field(
        default="start",
        description="Which clip to keep from a longer recording: its start, or the window"
        " with the most energy (speech that starts late).",
    )
    frame_length: int = Field(default=512, gt=0)
    hop_length: int = Field(default=160, gt=0)
    n_mels: int = Field(default=40, gt=0)
    fmin: float = Field(default=20.0, ge=0)
    fmax: float = Field(default=8_000.0, gt=0)
    log_floor: float = Field(default=1e-6, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> AudioFeatures:
        if self.fmax > self.sample_rate / 2 or self.fmin >= self.fmax:
            raise ValueError("need 0 <= fmin < fmax <= sample_rate / 2")
        if self.frame_length > self.clip_samples:
            raise ValueError("frame_length is longer than the clip")
        return self

    @property
    def clip_samples(self) -> int:
        return round(self.sample_rate * self.clip_seconds)

    @property
    def n_frames(self) -> int:
        return 1 + (self.clip_samples - self.frame_length) // self.hop_length

    @property
    def input_name(self) -> str:
        return "log_mel"

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.n_frames, self.n_mels)

    @property
    def input_dtype(self) -> str:
        return "float32"


FeatureSpec = Annotated[ImageFeatures | TextFeatures | AudioFeatures, Field(discriminator="modality")]


class ModelSpec(BaseModel):
    """Everything a model version needs besides its weights: ordered labels and preprocessing.

    ``content_hash`` is derived from the rest; a serialised spec whose hash does not match
    its content is refused, so a hand-edited or corrupted spec never reaches serving.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    labels: tuple[str, ...] = Field(min_length=2)
    features: FeatureSpec
    class_baseline: tuple[float, ...] | None = Field(
        default=None,
        description="Share of each label, in label order, among the predictions of the held-out evaluation:"
        " the distribution live predictions are compared with for drift. None in versions exported before it"
        " existed (they report no drift).",
    )
    min_confidence: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Answers whose top score is below this are marked abstained (the label is still given);"
        " a request may override it. None: never abstain.",
    )

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        return _unique(labels, "labels")

    @model_validator(mode="after")
    def _baseline_matches_labels(self) -> ModelSpec:
        baseline = self.class_baseline
        if baseline is not None:
            if len(baseline) != len(self.labels):
                raise ValueError("class_baseline needs one share per label")
            if min(baseline) < 0 or abs(sum(baseline) - 1.0) > 1e-6:
                raise ValueError("class_baseline must be non-negative shares summing to 1")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _check_hash(cls, data: Any, handler: ModelWrapValidatorHandler[ModelSpec]) -> ModelSpec:
        claimed = None
        if isinstance(data, dict) and "content_hash" in data:
            data = dict(data)
            claimed = data.pop("content_hash")
        spec = handler(data)
        if claimed is not None and claimed != spec.content_hash:
            raise ValueError("content_hash does not match the spec's content")
        return spec

    @computed_field  # type: ignore[prop-decorator]
    @cached_property
    def content_hash(self) -> str:
        content = self.model_dump(mode="json", exclude={"content_hash"})
        if content.get("class_baseline") is None:
            # Specs from before the baseline existed keep the hash they were exported with.
            content.pop("class_baseline", None)
        if content["min_confidence"] is None:
            del content["min_confidence"]  # specs written before the field existed keep their hash
        if content["features"].get("char_ngram_length") == 0:
            for key in ("char_ngram_sizes", "char_ngram_buckets", "char_ngram_length"):
                del content["features"][key]  # so do text specs without n-grams
        return _hash_of(content)

    @property
    def modality(self) -> Modality:
        return self.features.modality

    def with_class_baseline(self, shares: tuple[float, ...]) -> ModelSpec:
        """This spec with ``class_baseline`` set (a new, re-hashed spec; specs are frozen)."""
        content = self.model_dump(exclude={"content_hash"})
        content["class_baseline"] = tuple(shares)
        return ModelSpec.model_validate(content)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelSpec:
        return cls.model_validate_json(text)


def _unique(values: tuple[str, ...], what: str) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} must be unique")
    return values


def _hash_of(content: dict[str, Any]) -> str:
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
