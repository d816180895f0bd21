"""Rendering the Kustomize tree with ``kubectl kustomize`` and looking things up in the result."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
#: Everything that renders on its own; the first four are the installs the README describes.
OVERLAYS = [
    "overlays/gpu",
    "overlays/cpu",
    "overlays/embedded",
    "kserve",
    "overlays/servicemonitor",
    "overlays/keda",
    "base",
]
#: Kinds that are not Kubernetes' own (no schema to validate against): structural checks in the tests.
CUSTOM_KINDS = {"ServiceMonitor", "ScaledObject", "InferenceService"}

Doc = dict[str, Any]


def kubectl() -> str:
    """kubectl (Debian's kubernetes-client or any newer one); installed by scripts/bootstrap.sh."""
    found = shutil.which("kubectl")
    assert found, "kubectl is missing: run scripts/bootstrap.sh (Debian package kubernetes-client)"
    return found


def render_dir(directory: Path) -> list[Doc]:
    """``kubectl kustomize DIR`` as a list of objects; fails the test with kustomize's message."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {directory} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@functools.cache
def _rendered(overlay: str) -> tuple[Doc, ...]:
    return tuple(render_dir(KUBERNETES / overlay))


def render(overlay: str) -> list[Doc]:
    """The objects of one overlay (rendered once per test run)."""
    return list(_rendered(overlay))


def find(docs: list[Doc], kind: str, name: str | None = None) -> list[Doc]:
    """Objects of ``kind`` (named ``name``, when given)."""
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    """The single object of ``kind`` named ``name``."""
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def configmap(docs: list[Doc], prefix: str) -> Doc:
    """The generated ConfigMap whose name is ``prefix`` plus kustomize's hash suffix."""
    found = [d for d in find(docs, "ConfigMap") if d["metadata"]["name"].rsplit("-", 1)[0] == prefix]
    assert len(found) == 1, f"expected one ConfigMap {prefix}-<hash>, found {len(found)}"
    return found[0]


def containers(docs: list[Doc]) -> Iterator[tuple[Doc, Doc]]:
    """(Deployment, container) for every container of every Deployment."""
    for deployment in find(docs, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            yield deployment, container


def env_of(container: Doc) -> dict[str, str]:
    """A container's plain environment variables."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def env_settings(container: Doc, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The gateway settings a container's environment gives (the access-control keys file left out)."""
    for name, value in env_of(container).items():
        if name.startswith("CLASSIFIER_") and not name.startswith("CLASSIFIER_AUTH__"):
            monkeypatch.setenv(name, value)
    return Settings()


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects these labels."""
    return all(labels.get(key) == value for key, value in selector.items())
