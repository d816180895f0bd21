"""The interface every model backend offers the classify core.

Both the embedded runtime and the TF Serving client implement it, with the same meaning:
versions are integers, states follow TF Serving's ModelVersionStatus, and ``predict`` is always
pinned to one version so the caller preprocesses with exactly that version's spec.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass

import numpy as np

from features.spec import ModelSpec


class VersionState(enum.StrEnum):
    """Life cycle of a model version, as TF Serving names it."""

    START = "START"
    LOADING = "LOADING"
    AVAILABLE = "AVAILABLE"
    UNLOADING = "UNLOADING"
    END = "END"


@dataclass(frozen=True)
class VersionStatus:
    """One version of a model and where it is in its life cycle; ``error`` when loading failed."""

    version: int
    state: VersionState
    error: str | None = None


@dataclass(frozen=True)
class ModelStatus:
    """A model and its versions, newest first."""

    name: str
    versions: tuple[VersionStatus, ...]

    def available(self) -> list[int]:
        """Versions that can serve now, newest first."""
        return [v.version for v in self.versions if v.state is VersionState.AVAILABLE]


class ModelBackend(abc.ABC):
    """Where models run. Methods raise ``service.errors`` types only (NotFound, ModelNotReady,
    BackendUnavailable, DeadlineExceeded, Overloaded, InvalidInput)."""

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect or load; returns once the backend can be asked questions (models may still load)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish in-flight predictions, then release resources. Nothing accepted is dropped."""

    @abc.abstractmethod
    async def list_models(self) -> list[ModelStatus]:
        """Every model the backend knows, with its versions."""

    @abc.abstractmethod
    async def model_status(self, name: str) -> ModelStatus:
        """One model's versions; raises ModelNotFound."""

    @abc.abstractmethod
    async def get_spec(self, name: str, version: int) -> ModelSpec:
        """The spec the version was exported with; raises VersionNotFound or ModelNotReady."""

    @abc.abstractmethod
    async def predict(self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None) -> np.ndarray:
        """Softmax probabilities ``[N, labels]`` for a batch of preprocessed inputs, from exactly ``version``.

        ``inputs`` has the dtype and per-row shape of the version's spec. ``timeout`` is the
        seconds left of the caller's deadline (None: no deadline).
        """
