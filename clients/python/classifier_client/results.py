"""What the client returns: small frozen dataclasses built from the gateway's messages.

Their fields mirror the REST API's JSON, so ``dataclasses.asdict`` of a result has the content of the
REST body for the same request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from classifier_client.v1 import classifier_pb2 as pb


@dataclass(frozen=True, slots=True)
class ScoredLabel:
    """A label and its probability."""

    label: str
    score: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """The answer for one input: the top-1 label, the ``top_k`` best, and every label's probability."""

    label: str
    score: float
    top_k: tuple[ScoredLabel, ...]
    probabilities: dict[str, float]
    #: The top score is below the confidence threshold (the request's or the version's); ``label`` is still set.
    abstained: bool = False


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    """The answer for one request: the version that produced it and one prediction per input, in order."""

    model: str
    version: int
    predictions: tuple[Prediction, ...]

    @property
    def prediction(self) -> Prediction:
        """The first (for a one-input request, the only) prediction."""
        return self.predictions[0]


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """A model version and its state (START, LOADING, AVAILABLE, UNLOADING, END)."""

    version: int
    state: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The limits a request must respect."""

    max_body_bytes: int
    max_instances: int
    max_image_pixels: int
    max_audio_seconds: float
    max_text_chars: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A served model; ``modality`` and ``default_version`` are None while no version is AVAILABLE."""

    name: str
    modality: str | None
    labels: tuple[str, ...]
    versions: tuple[VersionInfo, ...]
    default_version: int | None
    version_labels: dict[str, int] = field(default_factory=dict)
    spec_hash: str | None = None
    input_limits: InputLimits | None = None


def classify_result(message: pb.ClassifyResponse) -> ClassifyResult:
    """A ``ClassifyResult`` from the wire message."""
    labels = tuple(message.labels)
    predictions = tuple(
        Prediction(
            label=p.label,
            score=p.score,
            top_k=tuple(ScoredLabel(s.label, s.score) for s in p.top_k),
            probabilities=dict(zip(labels, p.probabilities, strict=True)),
            abstained=p.abstained,
        )
        for p in message.predictions
    )
    return ClassifyResult(model=message.model, version=message.version, predictions=predictions)


def model_info(message: pb.ModelInfo) -> ModelInfo:
    """A ``ModelInfo`` from the wire message."""
    limits = None
    if message.HasField("input_limits"):
        m = message.input_limits
        limits = InputLimits(
            max_body_bytes=m.max_body_bytes,
            max_instances=m.max_instances,
            max_image_pixels=m.max_image_pixels,
            max_audio_seconds=m.max_audio_seconds,
            max_text_chars=m.max_text_chars,
        )
    return ModelInfo(
        name=message.name,
        modality=message.modality if message.HasField("modality") else None,
        labels=tuple(message.labels),
        versions=tuple(
            VersionInfo(v.version, v.state, v.error if v.HasField("error") else None) for v in message.versions
        ),
        default_version=message.default_version if message.HasField("default_version") else None,
        version_labels=dict(message.version_labels),
        spec_hash=message.spec_hash if message.HasField("spec_hash") else None,
        input_limits=limits,
    )
