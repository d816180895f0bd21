"""What the local model server answers, over a ModelBackend, in TF Serving's messages and with its rules.

- Version choice: ``model_spec.version`` pins one (NOT_FOUND unless it is AVAILABLE);
  ``model_spec.version_label`` maps through ``settings.version_labels`` (an unknown label is
  INVALID_ARGUMENT, as in TF Serving); neither means the newest AVAILABLE version.
- Signatures: ``serving_default`` takes the spec's input tensor (dtype and row shape checked:
  INVALID_ARGUMENT) and answers ``probabilities``; ``spec`` takes ``probe`` ``[N]`` and answers
  ``spec_json`` ``[N]``, the version's spec as JSON, as the exported signature does.
- Errors are ``service.errors`` types; the servicers turn them into gRPC codes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features import contract
from service.backends.base import ModelBackend, VersionState
from service.core.versions import resolve_version
from service.errors import InvalidInput, LabelNotFound, ModelNotReady, VersionNotFound
from service.settings import Settings
from service.tfserving_wire.tensors import fill_tensor, tensor_to_array

#: TF Serving's names of the version states (tensorflow.serving.ModelVersionStatus.State).
_STATE_NUMBER = {
    VersionState.START: 10,
    VersionState.LOADING: 20,
    VersionState.AVAILABLE: 30,
    VersionState.UNLOADING: 40,
    VersionState.END: 50,
}
_UNKNOWN_ERROR = 2  # tensorflow.error.Code.UNKNOWN


class ModelServerDataPlane:
    """Predict and GetModelStatus over one backend; takes and returns the official protobuf messages."""

    def __init__(self, settings: Settings, backend: ModelBackend) -> None:
        self.settings = settings
        self.backend = backend
        from tensorflow_serving.apis import get_model_status_pb2, predict_pb2

        self._predict_pb2 = predict_pb2
        self._status_pb2 = get_model_status_pb2

    async def resolve_version(self, model_spec: Any) -> int:
        """The version a request is for: pinned, labelled, or the newest AVAILABLE one."""
        name = model_spec.name
        status = await self.backend.model_status(name)
        choice = model_spec.WhichOneof("version_choice")
        label = model_spec.version_label if choice == "version_label" else None
        version = int(model_spec.version.value) if choice == "version" else None
        labels = self.settings.version_labels.get(name, {})
        # The core's rule, with TF Serving's codes and words: an unknown label is INVALID_ARGUMENT,
        # a version that is missing or not AVAILABLE is NOT_FOUND.
        try:
            return resolve_version(status, version, label, labels)
        except LabelNotFound as exc:
            raise InvalidInput(f"Unrecognized servable version label: {label}") from exc
        except (ModelNotReady, VersionNotFound) as exc:
            pinned = labels[label] if label is not None else version
            wanted = f"Latest({name})" if pinned is None else f"Specific({name}, {pinned})"
            raise VersionNotFound(f"Servable not found for request: {wanted}") from exc

    async def predict(self, request: Any, *, timeout: float | None) -> Any:
        """A ``PredictResponse`` for a ``PredictRequest``."""
        name = request.model_spec.name
        version = await self.resolve_version(request.model_spec)
        signature = request.model_spec.signature_name or contract.SERVING_SIGNATURE
        spec = await self.backend.get_spec(name, version)
        outputs: dict[str, np.ndarray]
        if signature == contract.SPEC_SIGNATURE:
            probe = self._only_input(request, contract.SPEC_INPUT)
            if probe.ndim != 1:
                raise InvalidInput(f"input '{contract.SPEC_INPUT}' must have shape [N], not {list(probe.shape)}")
            outputs = {contract.SPEC_OUTPUT: np.array([spec.to_json().encode()] * len(probe), dtype=object)}
        elif signature == contract.SERVING_SIGNATURE:
            features = spec.features
            rows = self._only_input(request, features.input_name)
            try:
                contract.check_batch(rows, features)
            except contract.BatchMismatch as exc:
                raise InvalidInput(f"input '{features.input_name}': {exc}") from exc
            outputs = {contract.PROBABILITIES_OUTPUT: await self.backend.predict(name, version, rows, timeout=timeout)}
        else:
            raise InvalidInput(f'Serving signature key "{signature}" not found.')
        wanted = list(request.output_filter) or list(outputs)
        unknown = sorted(set(wanted) - set(outputs))
        if unknown:
            raise InvalidInput(f"output_filter names unknown outputs {unknown}; the signature has {sorted(outputs)}")
        response = self._predict_pb2.PredictResponse()
        response.model_spec.name = name
        response.model_spec.version.value = version
        response.model_spec.signature_name = signature
        for key in wanted:
            fill_tensor(response.outputs[key], outputs[key])
        return response

    async def get_model_status(self, request: Any) -> Any:
        """A ``GetModelStatusResponse``: every version of the model, or the one asked for."""
        name = request.model_spec.name
        status = await self.backend.model_status(name)
        versions = list(status.versions)
        if request.model_spec.HasField("version"):
            wanted = int(request.model_spec.version.value)
            versions = [v for v in versions if v.version == wanted]
            if not versions:
                raise VersionNotFound(f"Could not find version {wanted} of model {name}")
        if not versions:
            raise VersionNotFound(f"Could not find any versions of model {name}")
        response = self._status_pb2.GetModelStatusResponse()
        for entry in versions:
            out = response.model_version_status.add()
            out.version = entry.version
            out.state = _STATE_NUMBER[entry.state]
            if entry.error:
                out.status.error_code = _UNKNOWN_ERROR
                out.status.error_message = entry.error
        return response

    @staticmethod
    def _only_input(request: Any, name: str) -> np.ndarray:
        keys = sorted(request.inputs)
        if keys != [name]:
            raise InvalidInput(f"the signature takes one input '{name}', not {keys}")
        return tensor_to_array(request.inputs[name])
