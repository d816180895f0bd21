"""``ServerTls``: the gateway's certificate, key and optional client CA, for REST and gRPC, reloaded on change.

REST gets one ``ssl.SSLContext`` (TLS 1.2 or later); ``refresh()`` calls ``load_cert_chain`` on that same
context again when a file changed, which applies to every handshake after it (connections already open
keep their session). gRPC gets dynamic credentials: gRPC asks ``_grpc_config`` before each new
connection's handshake and receives the new certificate once after a change, else None (no change).
With ``ca_file`` both surfaces require a client certificate signed by it. ``run_reloader`` stats the
three files every poll interval; a pair that fails to load (say, the certificate written, the key not
yet) keeps the previous one and is tried again on the next poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from pathlib import Path

import grpc

from service.settings import TlsSettings

log = logging.getLogger(__name__)

_Signature = tuple[tuple[int, int, int] | None, ...]


def _signature(paths: list[Path]) -> _Signature:
    out: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(None)
        else:
            out.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(out)


class ServerTls:
    """Server-side TLS material for both surfaces, from ``TlsSettings`` (which must be ``enabled``)."""

    def __init__(self, settings: TlsSettings, *, poll_interval_s: float) -> None:
        if settings.cert_file is None or settings.key_file is None:
            raise ValueError("ServerTls needs tls.cert_file and tls.key_file")
        self.cert_file = settings.cert_file
        self.key_file = settings.key_file
        self.ca_file = settings.ca_file
        self.poll_interval_s = poll_interval_s
        self._paths = [p for p in (self.cert_file, self.key_file, self.ca_file) if p is not None]
        self.ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ca_file is not None:
            self.ssl_context.verify_mode = ssl.CERT_REQUIRED
        self._signature = _signature(self._paths)
        self._pem = self._read_pem()  # raises at start-up: a gateway with broken TLS files must not start
        self._load_context()
        self._generation = 0
        self._grpc_generation = 0

    def _read_pem(self) -> tuple[bytes, bytes, bytes | None]:
        ca = self.ca_file.read_bytes() if self.ca_file is not None else None
        return self.key_file.read_bytes(), self.cert_file.read_bytes(), ca

    def _load_context(self) -> None:
        self.ssl_context.load_cert_chain(self.cert_file, self.key_file)
        if self.ca_file is not None:
            self.ssl_context.load_verify_locations(cafile=self.ca_file)

    def refresh(self) -> bool:
        """Reload the files if they changed; True when new material is in use."""
        signature = _signature(self._paths)
        if signature == self._signature:
            return False
        try:
            pem = self._read_pem()
            self._load_context()
            # gRPC checks the pair itself; refuse a mismatched one here rather than fail handshakes there.
            grpc.ssl_server_certificate_configuration([(pem[0], pem[1])], root_certificates=pem[2])
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.error("TLS files changed but cannot be loaded (%s); keeping the previous certificate", exc)
            return False
        self._signature = signature
        self._pem = pem
        self._generation += 1
        log.info("TLS: certificate reloaded from %s", self.cert_file)
        return True

    async def run_reloader(self) -> None:
        """Poll the files forever (cancel to stop)."""
        while True:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await asyncio.to_thread(self.refresh)
            except Exception:
                log.exception("TLS: reload failed")

    def _grpc_config(self) -> grpc.ServerCertificateConfiguration:
        key, chain, ca = self._pem
        return grpc.ssl_server_certificate_configuration([(key, chain)], root_certificates=ca)

    def _grpc_fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC before every new connection's handshake: a counter compare, no I/O.
        if self._grpc_generation == self._generation:
            return None
        self._grpc_generation = self._generation
        return self._grpc_config()

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Server credentials that follow ``refresh``; client certificates required when a CA is set."""
        return grpc.dynamic_ssl_server_credentials(
            self._grpc_config(), self._grpc_fetch, require_client_authentication=self.ca_file is not None
        )
