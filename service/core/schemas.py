"""Wire types of the classify API, shared by REST and gRPC (gRPC converts to and from them).

``ClassifyCall`` is what a surface hands the core after transport decoding; the other models are
what the core answers. The answer (``ClassifyResponse``, ``Prediction``, ``ScoredLabel``) is made of plain
slotted dataclasses: the core builds one per request without validation (its values are its own), REST
serialises it with orjson, and pydantic still reads the same classes for the OpenAPI schema.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RawInput = bytes | str
#: Turns one input into what the version's modality takes, e.g. V2's BYTES element into a text's ``str``;
#: called with (index, input, modality) in the preprocessing thread. It raises ``ServiceError``s.
InputAdapter = Callable[[int, RawInput, str], RawInput]


class Instance(BaseModel):
    """One JSON instance: ``{"text": ...}`` for text models, ``{"b64": ...}`` for image and audio bytes."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    b64: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Instance:
        if (self.text is None) == (self.b64 is None):
            raise ValueError("an instance has exactly one of 'text' or 'b64'")
        return self


class ClassifyRequestBody(BaseModel):
    """The JSON body of a classify request."""

    model_config = ConfigDict(extra="forbid")

    instances: list[Instance] = Field(min_length=1)
    # strict: JSON "5" or true is a client mistake, not a 5 or a 1.
    top_k: int | None = Field(default=None, ge=1, strict=True)
    min_confidence: float | None = Field(default=None, ge=0, le=1)


class ClassifyCall(BaseModel):
    """A classify request after transport decoding: which model, which inputs, how long it may take."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model: str
    version: int | None = None
    version_label: str | None = None
    inputs: list[RawInput] = Field(min_length=1)
    top_k: int | None = Field(default=None, ge=1)
    min_confidence: float | None = Field(
        default=None, ge=0, le=1, description="Abstain below this top score; None: the version spec's threshold."
    )
    timeout_s: float | None = Field(default=None, gt=0)
    surface: Literal["rest", "grpc", "v2-rest", "v2-grpc"] = "rest"
    #: A protocol whose inputs do not say their kind (V2's BYTES tensors) adapts them to the modality here.
    adapt_input: InputAdapter | None = None


@dataclass(slots=True)
class ScoredLabel:
    """A label and its probability."""

    label: str
    score: float


@dataclass(slots=True)
class Prediction:
    """The answer for one input."""

    label: str
    score: float
    top_k: list[ScoredLabel]
    probabilities: dict[str, float]
    abstained: Annotated[
        bool, Field(description="The top score is below the confidence threshold; the label is still given.")
    ] = False


@dataclass(slots=True)
class ClassifyResponse:
    """The answer for a request: the version that produced it and one prediction per input, in order."""

    model: str
    version: int
    predictions: list[Prediction]


class VersionInfo(BaseModel):
    """A model version and its state."""

    version: int
    state: str
    error: str | None = None


class InputLimitsInfo(BaseModel):
    """The limits a client must respect."""

    max_body_bytes: int
    max_instances: int
    max_image_pixels: int
    max_audio_seconds: float
    max_text_chars: int


class ModelInfo(BaseModel):
    """A model as clients see it."""

    name: str
    modality: str | None = Field(description="None while no version is AVAILABLE.")
    labels: list[str]
    versions: list[VersionInfo]
    default_version: int | None = Field(description="The version an unpinned request gets.")
    version_labels: dict[str, int] = Field(default_factory=dict)
    spec_hash: str | None = None
    input_limits: InputLimitsInfo | None = None


class ModelList(BaseModel):
    """Every served model."""

    models: list[ModelInfo]
