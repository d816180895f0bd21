"""``AccessControl``: who is calling (API key), may it (scope), how often (rate): one rule for every surface.

The keys live in memory as a dict from key id to entry, rebuilt from the keys file when the file
changes; a request costs a header split, a dict lookup, one SHA-256 of the secret, a constant-time
compare and a token-bucket take, with no file I/O. ``run_reloader`` stats the file every
``poll_interval_s`` (mtime, size, inode, so an atomic rename or a Kubernetes Secret's symlink swap is seen)
and re-reads it only when that changed; a file that fails to parse keeps the last good set, loudly.

Every worker process builds its own ``AccessControl`` and reloads the file itself. Rate limits hold
across processes: the workers of one gateway (``service.workers``) share each key's bucket through a
file in the supervisor's runtime directory (``SharedTokenBucket``), so a key gets its rate whichever
worker its connections land on. Separate processes without a shared directory (``auth.workers`` > 1,
e.g. several gateways started by hand) split it instead: each enforces ``rate / workers`` (and ``burst /
workers``), so the sum stays within the key's limit, at the cost of a client on one connection seeing only
its share.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

from service.auth import keyfile
from service.auth.keyfile import KeyEntry, KeyFileError
from service.auth.ratelimit import SharedTokenBucket
from service.core.token_bucket import TokenBucket
from service.errors import PermissionDenied, QuotaExceeded, Unauthenticated
from service.settings import Settings

log = logging.getLogger(__name__)

CLASSIFY = "classify"
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the key's name (what logs show) and its scopes."""

    name: str
    scopes: frozenset[str]


@dataclass(slots=True)
class _Known:
    entry: KeyEntry
    principal: Principal
    bucket: TokenBucket | SharedTokenBucket | None


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)  # follows symlinks: a Secret volume swaps a symlink to a new directory
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev)


class AccessControl:
    """API-key authentication, scope checks and per-key rate limits over a keys file."""

    def __init__(
        self, keys_file: Path, *, poll_interval_s: float, workers: int = 1, shared_dir: Path | None = None
    ) -> None:
        self.keys_file = keys_file
        self.poll_interval_s = poll_interval_s
        self.workers = workers
        self.shared_dir = shared_dir
        self._known: dict[str, _Known] = {}
        self._signature: tuple[int, int, int, int] | bool | None = False  # False: never read
        self.reload()

    # -- the keys file -------------------------------------------------------------------------------

    def reload(self) -> bool:
        """Re-read the keys file if it changed since the last look; True when the key set was replaced."""
        signature = _signature(self.keys_file)
        if signature == self._signature:
            return False
        try:
            entries = keyfile.read(self.keys_file) if signature is not None else []
        except KeyFileError as exc:
            log.error("keys file %s: %s; keeping the %d keys loaded before", self.keys_file, exc, len(self._known))
            self._signature = signature  # do not re-log the same broken file on every poll
            return False
        if signature is None:
            log.warning("keys file %s: missing; every API request is refused until it exists", self.keys_file)
        self._signature = signature
        self._known = {entry.id: self._known_entry(entry) for entry in entries}
        log.info("keys file %s: %d keys (%s)", self.keys_file, len(entries), ", ".join(e.name for e in entries))
        return True

    def _known_entry(self, entry: KeyEntry) -> _Known:
        previous = self._known.get(entry.id)
        if previous is not None and previous.entry == entry:
            return previous  # unchanged key: keep its bucket, so a reload refills no one's quota
        bucket: TokenBucket | SharedTokenBucket | None = None
        if entry.rate is not None:
            burst = entry.burst if entry.burst is not None else max(1, math.ceil(entry.rate))
            if self.shared_dir is not None:
                # Named by a hash of the key id: any id is a safe file name; the secret is not involved.
                name = hashlib.sha256(entry.id.encode()).hexdigest()[:32]
                bucket = SharedTokenBucket(self.shared_dir / f"{name}.bucket", entry.rate, float(burst))
            else:
                bucket = TokenBucket(entry.rate / self.workers, max(1.0, burst / self.workers))
        # A replaced shared bucket is not closed here (reload runs in a thread while the event loop may
        # still take from it); its mapping is released when the last reference goes.
        return _Known(entry, Principal(entry.name, entry.scopes), bucket)

    async def run_reloader(self) -> None:
        """Poll the keys file forever (cancel to stop); a change applies within ``poll_interval_s``."""
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await asyncio.to_thread(self.reload)
            except Exception:  # a poll must never end the reloader
                log.exception("keys file %s: reload failed", self.keys_file)

    # -- the request path ----------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of an ``Authorization: Bearer KEY`` value; ``Unauthenticated`` otherwise."""
        return self._authenticate(authorization).principal

    def _authenticate(self, authorization: str | None) -> _Known:
        if not authorization:
            raise Unauthenticated("an API key is required: send 'Authorization: Bearer KEY'")
        scheme, _, key = authorization.partition(" ")
        parts = keyfile.split_key(key.strip()) if scheme.lower() == "bearer" else None
        known = self._known.get(parts[0]) if parts is not None else None
        # The id is not secret; the secret is compared by hash in constant time.
        if known is None or parts is None or not hmac.compare_digest(keyfile.hash_secret(parts[1]), known.entry.sha256):
            log.info("refused a request with an invalid or revoked API key")
            raise Unauthenticated("the API key is not valid")
        return known

    def check(self, authorization: str | None, scope: str | None) -> Principal:
        """Authenticate, check ``scope`` (None: any valid key) and take one request from the key's rate."""
        known = self._authenticate(authorization)
        principal = known.principal
        if scope is not None:
            require(principal, scope)
        if known.bucket is not None:
            wait_s = known.bucket.take()
            if wait_s > 0.0:
                log.info("key '%s' over its rate (%.3g/s)", principal.name, known.entry.rate or 0.0)
                raise QuotaExceeded("this API key is over its request rate", retry_after_s=wait_s)
        return principal


#: The caller when authentication is off: every scope (a gateway without keys trusts its network).
ANONYMOUS = Principal("anonymous", keyfile.SCOPES)


def require(principal: Principal, scope: str) -> None:
    """Raise ``PermissionDenied`` unless ``principal`` has ``scope`` (for routes that need more than classify)."""
    if scope not in principal.scopes:
        log.warning("key '%s' lacks scope '%s'", principal.name, scope)
        raise PermissionDenied(f"this API key lacks the '{scope}' scope")


def access_control_for(settings: Settings) -> AccessControl | None:
    """The access control the settings ask for; None when authentication is off."""
    if settings.auth.keys_file is None:
        return None
    shared_dir = None
    if settings.runtime_dir is not None:  # a worker of a supervised gateway: share the buckets
        shared_dir = settings.runtime_dir / "ratelimit"
        shared_dir.mkdir(exist_ok=True)
    return AccessControl(
        settings.auth.keys_file,
        poll_interval_s=settings.poll_interval_s,
        workers=settings.auth.workers,
        shared_dir=shared_dir,
    )
