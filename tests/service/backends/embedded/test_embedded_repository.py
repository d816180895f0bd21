"""The repository scan and the version policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.backends.embedded.repository import scan_repository, wanted_versions
from service.settings import Settings


def _layout(root: Path, paths: list[str]) -> Path:
    for relative in paths:
        (root / relative).mkdir(parents=True, exist_ok=True)
    return root


def test_scan_ignores_hidden_temporary_and_non_integer_folders(tmp_path: Path) -> None:
    root = _layout(
        tmp_path,
        ["a/1", "a/12", "a/.export-x1", "a/tmp", "a/1.bak", "a/-3", "a/²", ".hidden/1", "b"],
    )
    (root / "a" / "7").write_text("a file, not a version folder")
    (root / "README").write_text("not a model")

    scan = scan_repository(root)

    assert {name: sorted(versions) for name, versions in scan.items()} == {"a": [1, 12], "b": []}
    assert scan["a"][12].path == root / "a" / "12"


def test_scan_restricts_to_configured_models(tmp_path: Path) -> None:
    root = _layout(tmp_path, ["a/1", "b/1", "c/2"])

    assert sorted(scan_repository(root, ["a", "c", "missing"])) == ["a", "c"]


def test_scan_of_missing_repository_is_empty(tmp_path: Path) -> None:
    assert scan_repository(tmp_path / "nowhere") == {}


@pytest.mark.parametrize(
    ("policy", "extra", "want"),
    [
        ("latest", {}, {5}),
        ("latest", {"latest_versions": 2}, {3, 5}),
        ("latest", {"latest_versions": 9}, {1, 3, 5}),
        ("all", {}, {1, 3, 5}),
        ("specific", {"specific_versions": {"m": [1, 5, 7]}}, {1, 5}),
        ("specific", {"specific_versions": {"other": [1]}}, set()),
    ],
)
def test_wanted_versions_follow_the_policy(
    tmp_path: Path, policy: str, extra: dict[str, object], want: set[int]
) -> None:
    scan = scan_repository(_layout(tmp_path, ["m/1", "m/3", "m/5"]))
    settings = Settings(models_dir=tmp_path, version_policy=policy, **extra)  # type: ignore[arg-type]

    assert wanted_versions("m", scan["m"], settings) == want


def test_fingerprint_changes_when_a_version_folder_is_rewritten(tmp_path: Path) -> None:
    version = tmp_path / "m" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"first")
    before = scan_repository(tmp_path)["m"][1].fingerprint
    assert scan_repository(tmp_path)["m"][1].fingerprint == before

    (version / "saved_model.pb").write_bytes(b"second, longer")

    assert scan_repository(tmp_path)["m"][1].fingerprint != before
