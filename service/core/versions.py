"""Which version of a model a request gets: the one rule for the gateway core and the model server.

An explicit version must be AVAILABLE; a label maps through ``settings.version_labels`` to a version
that must be AVAILABLE; neither means the newest AVAILABLE version. The errors say which rule
refused; the model server re-words them the way TF Serving does.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.backends.base import ModelStatus, VersionState
from service.errors import LabelNotFound, ModelNotReady, VersionNotFound


def resolve_version(status: ModelStatus, version: int | None, label: str | None, labels: Mapping[str, int]) -> int:
    """The version for a request naming ``version``, ``label`` (looked up in ``labels``) or neither.

    Raises LabelNotFound (unknown label), VersionNotFound (no such version), ModelNotReady (the version,
    or every version when none is named, is not AVAILABLE).
    """
    model = status.name
    if label is not None:
        if label not in labels:
            raise LabelNotFound(f"model '{model}' has no version label '{label}'", known=sorted(labels))
        version = labels[label]
    if version is None:
        available = status.available()
        if not available:
            raise ModelNotReady(f"model '{model}' has no AVAILABLE version yet")
        return available[0]
    for entry in status.versions:
        if entry.version == version:
            if entry.state is not VersionState.AVAILABLE:
                raise ModelNotReady(f"version {version} of model '{model}' is {entry.state.value}")
            return version
    raise VersionNotFound(f"model '{model}' has no served version {version}")
