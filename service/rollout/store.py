"""The shared rollout state file: atomic writes, locked read-modify-write, last good policy on corruption.

Every gateway process (and replica, on a shared volume) reads the same file. A writer takes an exclusive
``flock`` on ``<file>.lock``, reads the file afresh, applies its change and renames a complete temporary
file into place, so readers see the old or the new document, never half of one, and two writers (two
processes promoting at once) cannot lose each other's change. A reader that finds a file it cannot parse
keeps the last good state, logs the problem once per file content, and reports it in ``error`` (shown by
``/readyz``). The methods do blocking file I/O: call them off the event loop.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from service.rollout.policy import RolloutState

log = logging.getLogger(__name__)

_Signature = tuple[int, int, int] | None


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file in the same folder, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # every gateway process, whatever its user, reads it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RolloutStore:
    """The state file at ``path`` and the last good state read from it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = RolloutState()
        self.error: str | None = None
        self._signature: _Signature = None
        self._bad_signature: _Signature = None

    def refresh(self) -> bool:
        """Re-read the file if it changed (mtime, size, inode); True when the state changed."""
        signature = self._stat()
        if signature == self._signature:
            return False
        if signature is None:  # no file (yet): no rollout anywhere
            self._signature, self.error = None, None
            changed = bool(self.state.models)
            self.state = RolloutState()
            return changed
        try:
            state = self._read()
        except ValueError as exc:
            if signature != self._bad_signature:
                log.error("rollout state %s is unusable, keeping the last good policy: %s", self.path, exc)
                self._bad_signature = signature
            self.error = f"rollout state file unusable, serving the last good policy: {exc}"
            return False
        self._signature, self.error = signature, None
        changed = state != self.state
        self.state = state
        return changed

    def update(self, change: Callable[[RolloutState], RolloutState]) -> RolloutState:
        """Apply ``change`` to the file's current state under the lock and write the result atomically.

        A corrupt file is replaced, starting from the last good state this process holds.
        """
        with self._locked():
            try:
                current = self._read() if self.path.exists() else RolloutState()
            except ValueError:
                current = self.state
            new = change(current)
            atomic_write_text(self.path, new.model_dump_json(indent=2, exclude_none=True) + "\n")
            self.state, self.error = new, None
            self._signature = self._stat()
            return new

    def _read(self) -> RolloutState:
        try:
            return RolloutState.model_validate_json(self.path.read_bytes())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            raise ValueError(f"{where}: {first['msg']}") from exc
        except OSError as exc:
            raise ValueError(f"cannot read it: {exc.strerror}") from exc

    def _stat(self) -> _Signature:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
