"""``V2DataPlane``: the V2 calls, answered by the one classify core (``service.core.classifier.Classifier``).

Inference is ``Classifier.classify`` (same version resolution, preprocessing with that version's spec,
batching, deadlines, metrics), with the V2 input rule as its input adapter; the answer's probabilities
become the ``probabilities`` tensor, its top-k the classification extension's strings. Readiness and
metadata come from the core's readiness report and model description.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Literal

import numpy as np

from service.core.classifier import Classifier
from service.core.schemas import ClassifyCall, ModelInfo, Prediction
from service.errors import ModelNotReady
from service.v2.tensors import adapt_input
from service.v2.types import INPUT_NAME, OUTPUT_NAME, InferRequest, InferResult, OutputTensor, RequestedOutput

SERVER_NAME = "classifier-gateway"
#: The V2 extensions this server speaks (as Triton names them in its server metadata).
EXTENSIONS = ("classification", "binary_tensor_data")
PLATFORM = "tensorflow_savedmodel"


@dataclass(frozen=True)
class TensorMetadata:
    """A tensor as model metadata lists it (``-1``: any size)."""

    name: str
    datatype: str
    shape: list[int]


@dataclass(frozen=True)
class ModelMetadata:
    """A model as V2 describes it, plus its modality and labels (the order of the probabilities)."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    modality: str
    labels: list[str]


class V2DataPlane:
    """What both V2 surfaces call; no transport code."""

    def __init__(self, classifier: Classifier) -> None:
        self._classifier = classifier
        try:
            self.server_version = metadata.version("classifier-serving")
        except metadata.PackageNotFoundError:  # running from a source tree that is not installed
            self.server_version = "0"

    async def live(self) -> bool:
        """The process answers."""
        return True

    async def server_ready(self) -> bool:
        """Every expected model has classified a real sample (the gateway's readiness)."""
        return (await self._classifier.readiness()).ready

    async def model_ready(self, name: str, version: int | None) -> bool:
        """The model (that version, when named) is AVAILABLE; unknown models raise ModelNotFound."""
        try:
            await self._classifier.resolve_version(name, version, None)
        except ModelNotReady:
            return False
        return True

    async def model_metadata(self, name: str, version: int | None) -> ModelMetadata:
        """Versions a request may name, the platform, the input and the output with its label order."""
        info = await self._classifier.get_model(name)
        if version is not None:
            await self._classifier.resolve_version(name, version, None)  # 404 / 503 as for inference
        if info.modality is None:
            raise ModelNotReady(f"model '{name}' has no AVAILABLE version yet")
        return ModelMetadata(
            name=name,
            versions=_available_versions(info),
            platform=PLATFORM,
            inputs=[TensorMetadata(INPUT_NAME, "BYTES", [-1])],
            outputs=[TensorMetadata(OUTPUT_NAME, "FP32", [-1, len(info.labels)])],
            modality=info.modality,
            labels=info.labels,
        )

    async def infer(self, request: InferRequest, surface: Literal["v2-rest", "v2-grpc"]) -> InferResult:
        """Classify the request's inputs with one version; outputs in the order they were requested."""
        top_k = max((o.classification or 0 for o in request.outputs), default=0)
        # model_construct: every field was checked by the surface's decoding, and validation would copy
        # each input's bytes once more.
        call = ClassifyCall.model_construct(
            model=request.model,
            version=request.version,
            version_label=None,
            inputs=request.inputs,
            top_k=top_k or None,
            timeout_s=request.timeout_s,
            surface=surface,
            adapt_input=adapt_input,
        )
        answer = await self._classifier.classify(call)
        predictions = answer.predictions
        labels = list(predictions[0].probabilities) if predictions else []
        probabilities = np.array([list(p.probabilities.values()) for p in predictions], dtype=np.float32)
        outputs = [_output(o, probabilities, predictions, labels) for o in request.outputs]
        return InferResult(model=answer.model, version=answer.version, id=request.id, outputs=outputs)


def _output(
    requested: RequestedOutput, probabilities: np.ndarray, predictions: list[Prediction], labels: list[str]
) -> OutputTensor:
    k = requested.classification
    if k is None:
        return OutputTensor(OUTPUT_NAME, "FP32", list(probabilities.shape), probabilities, requested.binary)
    k = min(k, len(labels))
    index = {label: i for i, label in enumerate(labels)}
    # Triton's classification format: the score as C++ std::to_string prints a float, the index, the label.
    elements = [f"{s.score:f}:{index[s.label]}:{s.label}".encode() for p in predictions for s in p.top_k[:k]]
    return OutputTensor(OUTPUT_NAME, "BYTES", [len(predictions), k], elements, requested.binary)


def _available_versions(info: ModelInfo) -> list[str]:
    return [str(v.version) for v in info.versions if v.state == "AVAILABLE"]
