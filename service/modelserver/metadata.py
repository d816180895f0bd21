"""``GetModelMetadata`` as TF Serving answers it: the version's SignatureDefs, packed in an ``Any``.

TF Serving supports one metadata field, ``signature_def``, whose value is a ``tensorflow.serving.
SignatureDefMap`` holding every SignatureDef of the SavedModel's serving MetaGraph (``__saved_model_init_op``
included, as TF Serving lists it). They are read from the version's ``saved_model.pb``, once per version
(a version folder never changes while it is served: a rewrite is a new version), off the event loop.
Version choice and its errors are Predict's (``ModelServerDataPlane.resolve_version``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from service.backends.embedded.repository import scan_repository
from service.errors import InvalidInput, VersionNotFound
from service.modelserver.dataplane import ModelServerDataPlane

SIGNATURE_DEF = "signature_def"
_SERVE_TAG = "serve"


class ModelMetadataReader:
    """Answers ``GetModelMetadataRequest``s from the model repository, caching each version's SignatureDefs."""

    def __init__(self, dataplane: ModelServerDataPlane) -> None:
        self._dataplane = dataplane
        self._cache: dict[tuple[str, int], Any] = {}  # (model, version) -> SignatureDefMap
        from tensorflow_serving.apis import get_model_metadata_pb2

        self._pb2 = get_model_metadata_pb2

    async def get_model_metadata(self, request: Any) -> Any:
        """A ``GetModelMetadataResponse`` for the model version the request's ``model_spec`` names."""
        fields = list(request.metadata_field)
        if not fields:
            raise InvalidInput("GetModelMetadataRequest must specify at least one metadata_field")
        unsupported = [f for f in fields if f != SIGNATURE_DEF]
        if unsupported:
            raise InvalidInput(f"Metadata field {unsupported[0]} is not supported")
        name = request.model_spec.name
        version = await self._dataplane.resolve_version(request.model_spec)
        signatures = self._cache.get((name, version))
        if signatures is None:
            signatures = await asyncio.to_thread(self._read, name, version)
            self._cache[(name, version)] = signatures
            await self._forget_unserved(name)
        response = self._pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        response.model_spec.version.value = version
        response.metadata[SIGNATURE_DEF].Pack(signatures)
        return response

    def _read(self, name: str, version: int) -> Any:
        from tensorflow.core.protobuf import saved_model_pb2

        folder = scan_repository(self._dataplane.settings.models_dir, [name]).get(name, {}).get(version)
        if folder is None:
            raise VersionNotFound(f"Servable not found for request: Specific({name}, {version})")
        saved_model = saved_model_pb2.SavedModel()
        saved_model.ParseFromString(Path(folder.path, "saved_model.pb").read_bytes())
        serving = next((g for g in saved_model.meta_graphs if _SERVE_TAG in g.meta_info_def.tags), None)
        if serving is None:
            raise VersionNotFound(f"version {version} of model '{name}' has no '{_SERVE_TAG}' MetaGraph")
        signatures = self._pb2.SignatureDefMap()
        for key, signature in serving.signature_def.items():
            signatures.signature_def[key].CopyFrom(signature)
        return signatures

    async def _forget_unserved(self, name: str) -> None:
        # Bounded by what is served: on each miss, entries of versions no longer AVAILABLE go.
        available = set((await self._dataplane.backend.model_status(name)).available())
        for key in [key for key in self._cache if key[0] == name and key[1] not in available]:
            del self._cache[key]
