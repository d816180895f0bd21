"""The keys file: its format, key generation and hashing, atomic writes. Shared by the CLI and the gateway.

A key looks like ``csk_<id>_<secret>``: ``id`` (12 hex digits) names the entry and is not secret;
``secret`` is ``secrets.token_urlsafe(32)`` (256 random bits). The file stores, per key, its name, id,
the SHA-256 of the secret, its scopes and its rate limit, never the key itself::

    {"version": 1, "keys": [{"name": "web", "id": "3f2a...", "sha256": "9c1e...", "scopes": ["classify"],
                             "rate": 10.0, "burst": 20, "created": "2026-11-28T21:30:00Z"}]}

Why a plain SHA-256 and not bcrypt or argon2: those slow hashes protect low-entropy passwords from
guessing; a 256-bit random secret cannot be guessed whatever the hash, and a slow hash would cost
milliseconds on every request. The id lets the gateway find the entry with a dict lookup that depends on
nothing secret, then compare the secret's hash in constant time (``hmac.compare_digest``).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

KEY_PREFIX = "csk"
SCOPES = frozenset({"classify", "admin"})
FORMAT_VERSION = 1


class KeyFileError(ValueError):
    """The keys file cannot be read or does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One key as stored: who it is (``name``), how to recognise it, what it may do, how often."""

    name: str
    id: str
    sha256: str
    scopes: frozenset[str]
    rate: float | None  # requests per second; None: unlimited
    burst: int | None  # bucket size; None: max(1, ceil(rate))
    created: str

    def to_json(self) -> dict[str, Any]:
        """The entry as the file stores it."""
        return {
            "name": self.name,
            "id": self.id,
            "sha256": self.sha256,
            "scopes": sorted(self.scopes),
            "rate": self.rate,
            "burst": self.burst,
            "created": self.created,
        }


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of a key's secret part."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def new_key(name: str, scopes: frozenset[str], rate: float | None, burst: int | None) -> tuple[str, KeyEntry]:
    """A fresh random key and the entry that stores its hash."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = KeyEntry(name, key_id, hash_secret(secret), scopes, rate, burst, created)
    return f"{KEY_PREFIX}_{key_id}_{secret}", entry


def parse_scopes(text: str) -> frozenset[str]:
    """``"classify,admin"`` -> the scope set; unknown scopes are an error."""
    scopes = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = scopes - SCOPES
    if not scopes or unknown:
        raise KeyFileError(f"scopes must be among {sorted(SCOPES)}, got {text!r}")
    return scopes


def _entry(raw: Any) -> KeyEntry:
    if not isinstance(raw, dict):
        raise KeyFileError("each key must be an object")
    try:
        rate = None if raw.get("rate") is None else float(raw["rate"])
        burst = None if raw.get("burst") is None else int(raw["burst"])
        entry = KeyEntry(
            name=str(raw["name"]),
            id=str(raw["id"]),
            sha256=str(raw["sha256"]),
            scopes=frozenset(str(s) for s in raw["scopes"]),
            rate=rate,
            burst=burst,
            created=str(raw.get("created", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"a key entry is incomplete or malformed: {exc!r}") from exc
    if entry.scopes - SCOPES or (rate is not None and rate <= 0) or (burst is not None and burst < 1):
        raise KeyFileError(f"key '{entry.name}': unknown scope, or a rate or burst that is not positive")
    return entry


def parse(text: str) -> list[KeyEntry]:
    """The entries of a keys file's text; raises ``KeyFileError`` on anything unexpected."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyFileError(f"not JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("version") != FORMAT_VERSION:
        raise KeyFileError(f"expected an object with version {FORMAT_VERSION}")
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise KeyFileError("'keys' must be a list")
    entries = [_entry(raw) for raw in keys]
    names = [e.name for e in entries]
    ids = [e.id for e in entries]
    if len(set(names)) != len(names) or len(set(ids)) != len(ids):
        raise KeyFileError("key names and ids must be unique")
    return entries


def read(path: Path) -> list[KeyEntry]:
    """The entries of the file at ``path``; a missing file has none."""
    try:
        return parse(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise KeyFileError(f"cannot read {path}: {exc}") from exc


def write(path: Path, entries: list[KeyEntry]) -> None:
    """Replace the file atomically (temporary file + rename). A new file is readable by its owner only;
    an existing file keeps its mode (say 0644, so that a container's non-root user can read it)."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600
    document = {"version": FORMAT_VERSION, "keys": [e.to_json() for e in entries]}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2)
            out.write("\n")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
