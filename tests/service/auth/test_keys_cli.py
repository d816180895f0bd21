"""``python -m service.keys`` as a user runs it: add prints the key once (last line), the file keeps only
hashes, list shows no secret, rotate and revoke change the file, mistakes exit 2 with a message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service.keys", *argv], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_add_list_rotate_revoke(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"

    added = run("add", "--file", str(keys_file), "--name", "web", "--scope", "classify", "--rate", "5", "--burst", "10")
    key = added.stdout.strip().splitlines()[-1]
    listed = run("list", "--file", str(keys_file))
    rotated = run("rotate", "--file", str(keys_file), "--name", "web")
    new_key = rotated.stdout.strip().splitlines()[-1]
    stored = json.loads(keys_file.read_text())["keys"]
    revoked = run("revoke", "--file", str(keys_file), "--name", "web")

    assert added.returncode == 0 and key.startswith("csk_") and len(key) > 50
    assert listed.returncode == 0 and "web\tclassify\t5/s burst 10" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout
    assert rotated.returncode == 0 and new_key.startswith("csk_") and new_key != key
    assert [(e["name"], e["scopes"], e["rate"], e["burst"]) for e in stored] == [("web", ["classify"], 5.0, 10)]
    assert key.split("_", 2)[2] not in json.dumps(stored) and new_key.split("_", 2)[2] not in json.dumps(stored)
    assert revoked.returncode == 0
    assert json.loads(keys_file.read_text())["keys"] == []


def test_mistakes_exit_2_with_a_message(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    assert run("add", "--file", str(keys_file), "--name", "a", "--scope", "classify").returncode == 0

    duplicate = run("add", "--file", str(keys_file), "--name", "a", "--scope", "classify")
    bad_scope = run("add", "--file", str(keys_file), "--name", "b", "--scope", "root")
    bad_rate = run("add", "--file", str(keys_file), "--name", "c", "--scope", "admin", "--rate", "0")
    unknown = run("revoke", "--file", str(keys_file), "--name", "nobody")
    keys_file.write_text("{broken")
    corrupt = run("list", "--file", str(keys_file))

    for done, words in (
        (duplicate, "exists"),
        (bad_scope, "scopes"),
        (bad_rate, "rate"),
        (unknown, "no key"),
        (corrupt, "JSON"),
    ):
        assert done.returncode == 2 and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
