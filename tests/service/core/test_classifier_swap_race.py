"""The core re-resolves an unpinned request whose version retired between resolve and predict."""

import numpy as np
import pytest

from features.spec import ModelSpec, TextFeatures
from service.backends.base import ModelBackend, ModelStatus, VersionState, VersionStatus
from service.core.classifier import Classifier
from service.core.schemas import ClassifyCall
from service.errors import ModelNotReady
from service.metrics import Metrics
from service.settings import Settings

SPEC = ModelSpec(
    name="m",
    labels=("a", "b"),
    features=TextFeatures(vocabulary=("<pad>", "<unk>", "hello"), sequence_length=4),
)


class SwappingBackend(ModelBackend):
    """Two versions; the first predict on v1 finds it retired and v2 AVAILABLE, as in a swap."""

    def __init__(self) -> None:
        self.available = [1]
        self.predicted: list[int] = []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_models(self) -> list[ModelStatus]:
        return [await self.model_status("m")]

    async def model_status(self, name: str) -> ModelStatus:
        return ModelStatus(name, tuple(VersionStatus(v, VersionState.AVAILABLE) for v in self.available))

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        return SPEC

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        self.predicted.append(version)
        if version not in self.available:
            raise ModelNotReady(f"version {version} is UNLOADING")
        if version == 1:
            self.available = [2]
            raise ModelNotReady("version 1 is UNLOADING")
        return np.tile(np.array([[0.25, 0.75]], np.float32), (len(inputs), 1))


async def test_unpinned_request_moves_to_the_new_version():
    backend = SwappingBackend()
    classifier = Classifier(Settings(), backend, Metrics())

    answer = await classifier.classify(ClassifyCall(model="m", inputs=["hello"]))

    assert answer.version == 2
    assert answer.predictions[0].label == "b"
    assert backend.predicted == [1, 2]
    classifier.close()


async def test_pinned_request_is_not_moved():
    backend = SwappingBackend()
    classifier = Classifier(Settings(), backend, Metrics())

    with pytest.raises(ModelNotReady):
        await classifier.classify(ClassifyCall(model="m", version=1, inputs=["hello"]))

    assert backend.predicted == [1]
    classifier.close()
