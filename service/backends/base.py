"""The interface every model backend offers the classify core.

Both the embedded runtime and the TF Serving client implement it, with the same meaning:
versions are integers, states follow TF Serving's ModelVersionStatus, and ``predict`` is always
pinned to one version so the caller preprocesses with exactly that version's spec.

Backends publish their state: ``changes()`` is an async iterator of ``BackendState`` snapshots, the
current one at once and a new one after every change (a version's state, a model appearing or going,
the backend becoming reachable or not). Health, heap freezing and version logging follow it instead
of polling. A slow subscriber is never queued old states: it gets the newest one when it next asks.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import functools
import logging
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from features.spec import ModelSpec
from service.errors import ServiceError

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class BackendState:
    """What a backend serves now: every model with its versions, or why it cannot tell (``error``)."""

    models: tuple[ModelStatus, ...]
    error: str | None = None


class StateChanges:
    """One subscription to a backend's state: ``async for state in changes`` yields the state now, then
    after each change. Bounded: one flag per subscriber, however many changes it has not read yet.
    A wait may be cancelled (a timeout) without losing the subscription; ``close`` (or ``with``) ends it."""

    def __init__(self, backend: ModelBackend, subscribers: set[asyncio.Event]) -> None:
        self._backend = backend
        self._subscribers = subscribers
        self._changed = asyncio.Event()
        self._changed.set()  # the first read answers the current state
        subscribers.add(self._changed)

    def __aiter__(self) -> StateChanges:
        return self

    async def __anext__(self) -> BackendState:
        await self._changed.wait()
        self._changed.clear()
        return await self._backend.state()

    def close(self) -> None:
        """Stop receiving changes."""
        self._subscribers.discard(self._changed)

    def __enter__(self) -> StateChanges:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class ModelBackend(abc.ABC):
    """Where models run. Methods raise ``service.errors`` types only (NotFound, ModelNotReady,
    BackendUnavailable, DeadlineExceeded, Overloaded, InvalidInput)."""

    def changes(self) -> StateChanges:
        """Subscribe to this backend's state (see the module docstring)."""
        return StateChanges(self, self._subscribers)

    async def state(self) -> BackendState:
        """Every model's statuses now, or the reason the backend cannot list them."""
        try:
            return BackendState(tuple(await self.list_models()))
        except ServiceError as exc:
            return BackendState((), exc.detail)
        except Exception:  # a bug must not end every subscriber's loop; it is logged, and reported as such
            log.exception("listing the models failed")
            return BackendState((), "internal error")

    def publish_change(self) -> None:
        """Tell every subscriber that the state changed; implementations call it after each change."""
        for changed in self._subscribers:
            changed.set()

    @functools.cached_property
    def _subscribers(self) -> set[asyncio.Event]:
        return set()

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
    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        """Softmax probabilities ``[N, labels]`` for a batch of preprocessed inputs, from exactly ``version``.

        ``inputs`` has the dtype and per-row shape of the version's spec. ``timeout`` is the
        seconds left of the caller's deadline (None: no deadline). ``alone``: no other request of the model
        is in flight (a hint; the embedded backend may then skip its batching hand-offs).
        """
