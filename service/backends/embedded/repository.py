"""The model repository on disk (``models_dir/NAME/VERSION/``) and which versions the policy serves.

Only plain folders count: hidden names (an exporter's ``.export-*`` staging folder) and names that
are not integers (``tmp``, ``1.bak``) are ignored, so a version appears exactly when it is renamed
into place. Scanning is a few ``stat`` calls per version; the runtime runs it in a thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from features.contract import version_number
from service.settings import Settings

#: Files whose change means a version folder holds something new (a failed load is retried then).
_WATCHED_FILES = ("saved_model.pb", "saved_model.pbtxt", "variables/variables.index")


@dataclass(frozen=True)
class VersionFolder:
    """One version folder and a fingerprint of its contents (changes when it is rewritten)."""

    version: int
    path: Path
    fingerprint: tuple[int, ...]


RepositoryScan = dict[str, dict[int, VersionFolder]]


def scan_repository(models_dir: Path, models: list[str] | None = None) -> RepositoryScan:
    """Every model folder (restricted to ``models`` when given) and its integer version folders."""
    found: RepositoryScan = {}
    try:
        entries = list(os.scandir(models_dir))
    except FileNotFoundError:
        return found
    for entry in entries:
        if not _is_plain_dir(entry) or (models is not None and entry.name not in models):
            continue
        found[entry.name] = _versions(Path(entry.path))
    return found


def wanted_versions(name: str, versions: dict[int, VersionFolder], settings: Settings) -> set[int]:
    """The versions of model ``name`` that ``settings.version_policy`` serves, among those on disk."""
    if settings.version_policy == "all":
        return set(versions)
    if settings.version_policy == "specific":
        return set(settings.specific_versions.get(name, ())) & set(versions)
    return set(sorted(versions, reverse=True)[: settings.latest_versions])


def _versions(model_dir: Path) -> dict[int, VersionFolder]:
    versions: dict[int, VersionFolder] = {}
    try:
        entries = list(os.scandir(model_dir))
    except (FileNotFoundError, NotADirectoryError):
        return versions
    for entry in entries:
        number = version_number(entry.name)
        if number is not None and _is_plain_dir(entry):
            path = Path(entry.path)
            versions[number] = VersionFolder(number, path, _fingerprint(path))
    return versions


def _is_plain_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return not entry.name.startswith(".") and entry.is_dir()
    except OSError:
        return False


def _fingerprint(path: Path) -> tuple[int, ...]:
    stamps: list[int] = []
    for relative in ("", *_WATCHED_FILES):
        try:
            stat = (path / relative).stat()
        except OSError:
            stamps += [-1, -1, -1]
            continue
        stamps += [stat.st_ino, stat.st_mtime_ns, stat.st_size]
    return tuple(stamps)
