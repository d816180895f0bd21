"""The gateway process: settings -> metrics -> backend -> classify core -> surfaces, and a clean stop.

``main()`` (``python -m service``, ``classifier-gateway``) reads settings from the environment, serves
until SIGINT or SIGTERM, then shuts down gracefully and exits 0: surfaces stop accepting and finish
their in-flight requests, then the backend drains, then the preprocessing threads end. A second
signal stops waiting for in-flight requests.

Surfaces are the protocol servers (REST, gRPC); each is started and stopped the same way, all over
the one ``Classifier``. ``build_surfaces`` is the one place that lists them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any, Protocol

from pydantic import ValidationError

from service.auth.access import AccessControl, access_control_for
from service.backends.base import ModelBackend, VersionState
from service.backends.factory import create_backend
from service.core.classifier import Classifier
from service.grpc import GrpcSurface, create_grpc_server
from service.heap import freeze_after_loads
from service.metrics import Metrics
from service.observability.logging_setup import configure_logging
from service.observability.tracing import disable_tracing, enable_tracing
from service.rest.app import create_app
from service.rest.early_shed import EarlyShed
from service.rest.server import RestServer
from service.settings import Settings
from service.tls import ServerTls

log = logging.getLogger("service.gateway")


class Surface(Protocol):
    """A protocol server the gateway runs over the core."""

    name: str

    async def start(self) -> None:
        """Bind and serve; return once requests are accepted."""

    async def stop(self) -> None:
        """Stop accepting, finish in-flight requests, release the port."""

    def force_stop(self) -> None:
        """Stop waiting for in-flight requests (called while ``stop`` runs)."""


def build_surfaces(
    settings: Settings,
    classifier: Classifier,
    metrics: Metrics,
    *,
    access: AccessControl | None = None,
    tls: ServerTls | None = None,
) -> list[Surface]:
    """Every protocol surface, each over the same core. REST always; gRPC when enabled.

    Both share one ``access`` (API keys) and one ``tls`` (certificates), so a reload applies to both.
    """
    app = create_app(settings, classifier, metrics, access=access)
    surfaces: list[Surface] = [
        RestServer(
            app,
            settings.host,
            settings.port,
            graceful_timeout_s=settings.shutdown_grace_s,
            access_log=settings.log_level == "debug",
            ssl_context=None if tls is None else tls.ssl_context,
            limits=settings.connections,
            shed=EarlyShed(classifier.admission),
            reuse_port=settings.worker_id is not None,
        )
    ]
    if settings.grpc_enabled:
        surfaces.append(create_grpc_server(settings, classifier, access=access, tls=tls))
    return surfaces


class Gateway:
    """One gateway: its backend, its core and its surfaces, started and stopped together."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self._backend: ModelBackend | None = None
        self._classifier: Classifier | None = None
        self.surfaces: list[Surface] = []
        self._watcher: asyncio.Task[None] | None = None
        self._heap_keeper: asyncio.Task[None] | None = None
        self._reloaders: list[asyncio.Task[None]] = []

    @property
    def classifier(self) -> Classifier:
        """The classify core (after ``start``)."""
        if self._classifier is None:
            raise RuntimeError("the gateway is not started")
        return self._classifier

    @property
    def backend(self) -> ModelBackend:
        """The model backend (after ``start``)."""
        if self._backend is None:
            raise RuntimeError("the gateway is not started")
        return self._backend

    @property
    def grpc(self) -> GrpcSurface:
        """The gRPC server (after ``start``, when ``grpc_enabled``)."""
        return next(s for s in self.surfaces if isinstance(s, GrpcSurface))

    @property
    def rest(self) -> RestServer:
        """The REST server (after ``start``)."""
        return next(s for s in self.surfaces if isinstance(s, RestServer))

    async def start(self) -> None:
        """Start the backend, build the core and surfaces, and serve. Models may still be loading."""
        settings = self.settings
        log.info("backend '%s': starting (model repository %s)", settings.backend, settings.models_dir)
        if settings.tracing.enabled:
            enable_tracing()
        self._backend = create_backend(settings, self.metrics)
        try:
            await self._backend.start()
            log.info("backend '%s': started", settings.backend)
            self._classifier = Classifier(settings, self._backend, self.metrics)
            if self._classifier.rollouts is not None:  # the shared rollout state, re-read every poll
                self._reloaders.append(asyncio.create_task(self._classifier.rollouts.run(), name="rollouts"))
            # Each process reads the keys file and the certificates itself and polls them for changes.
            access = access_control_for(settings)
            tls = ServerTls(settings.tls, poll_interval_s=settings.poll_interval_s) if settings.tls.enabled else None
            for reloader in (access, tls):
                if reloader is not None:
                    self._reloaders.append(asyncio.create_task(reloader.run_reloader(), name="reload"))
            self.surfaces = build_surfaces(settings, self._classifier, self.metrics, access=access, tls=tls)
            for surface in self.surfaces:
                log.info("surface '%s': starting", surface.name)
                await surface.start()
        except BaseException:
            await self.stop()
            raise
        if settings.backend == "tfserving":
            # The embedded runtime logs each version's transitions as it makes them; TF Serving's reach
            # the gateway as the backend's state changes, so the gateway logs those.
            self._watcher = asyncio.create_task(log_version_changes(self._backend), name="version-log")
        self._heap_keeper = asyncio.create_task(freeze_after_loads(self._backend), name="heap-freeze")
        log.info("gateway: serving; /readyz turns 200 once every model has classified a sample")

    async def stop(self) -> None:
        """Graceful stop: surfaces drain in-flight requests, then the backend finishes its work and closes."""
        log.info("gateway: stopping")
        if self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None
        if self._heap_keeper is not None:
            self._heap_keeper.cancel()
            self._heap_keeper = None
        for reloader in self._reloaders:
            reloader.cancel()
        self._reloaders = []
        surfaces, self.surfaces = self.surfaces, []
        results = await asyncio.gather(*(s.stop() for s in surfaces), return_exceptions=True)
        for surface, result in zip(surfaces, results, strict=True):
            if isinstance(result, BaseException):
                log.error("surface '%s': failed to stop cleanly: %r", surface.name, result)
        if self._backend is not None:
            log.info("backend '%s': draining and closing", self.settings.backend)
            await self._backend.close()
            self._backend = None
        if self._classifier is not None:
            if self._classifier.rollouts is not None:
                await self._classifier.rollouts.close()
            await asyncio.to_thread(self._classifier.close)
            self._classifier = None
        if self.settings.tracing.enabled:
            await asyncio.to_thread(disable_tracing)  # exports the spans still buffered
        log.info("gateway: stopped")

    def force_stop(self) -> None:
        """Stop waiting for in-flight requests."""
        for surface in self.surfaces:
            surface.force_stop()


async def log_version_changes(backend: ModelBackend) -> None:
    """Run until cancelled: one log line per model version state change the backend publishes."""
    known: dict[tuple[str, int], VersionState] = {}
    with backend.changes() as changes:
        async for state in changes:
            if state.error is not None:  # a backend outage is reported by /readyz; keep watching
                log.warning("backend: cannot list models: %s", state.error)
            seen = set()
            for status in state.models:
                for entry in status.versions:
                    key = (status.name, entry.version)
                    seen.add(key)
                    if known.get(key) is not entry.state:
                        reason = f" ({entry.error})" if entry.error else ""
                        log.info("model '%s' version %d: %s%s", status.name, entry.version, entry.state.value, reason)
                        known[key] = entry.state
            for name, version in set(known) - seen:
                log.info("model '%s' version %d: gone", name, version)
                del known[(name, version)]


async def serve(settings: Settings) -> None:
    """Run a gateway until SIGINT or SIGTERM, then stop it gracefully."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    gateway = Gateway(settings)

    def on_signal(signum: int) -> None:
        if not stopping.is_set():
            log.info("%s: finishing in-flight requests, then exiting", signal.Signals(signum).name)
            stopping.set()
        else:
            log.warning("%s again: no longer waiting for in-flight requests", signal.Signals(signum).name)
            gateway.force_stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await gateway.start()
        await stopping.wait()
        await gateway.stop()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def main() -> int:
    """Entry point of ``python -m service``: settings from the environment, serve, exit 0 on a clean stop."""
    # TensorFlow's C++ start-up chatter drowns the gateway's own log unless it is told otherwise first.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"classifier-gateway: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if settings.worker_count > 1 and settings.worker_id is None:
        # Imported here: a single gateway (the default) never loads the supervisor.
        from service.workers import Supervisor

        return Supervisor(settings).run()
    log.info(
        "settings: %sbackend=%s models_dir=%s models=%s REST %s:%d",
        "" if settings.worker_id is None else f"worker {settings.worker_id}: ",
        settings.backend,
        settings.models_dir,
        "all" if settings.models is None else ",".join(settings.models),
        settings.host,
        settings.port,
    )
    try:
        _run(serve(settings), settings.event_loop)
    except OSError as exc:
        log.error("gateway: cannot start: %s", exc)
        return 1
    return 0


def _run(main: Coroutine[Any, Any, None], event_loop: str) -> None:
    """Run ``main`` on the chosen event loop (``settings.event_loop``; auto: uvloop when installed)."""
    if event_loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if event_loop == "uvloop":
                raise
        else:
            uvloop.run(main)
            return
    # Imported here, as uvloop is: only the asyncio loop uses it.
    from service.rest.prompt_accept import loop_factory

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main)
