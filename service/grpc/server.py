"""``create_grpc_server(settings, classifier) -> GrpcSurface``: the gRPC surface, built explicitly.

One server carries the classifier service (requests parsed in the servicer, errors mapped by
``service.grpc.errors``), the Open Inference Protocol's ``inference.GRPCInferenceService`` (``service.v2``, same
core and code table), the
standard health service following readiness, and server reflection, so grpcurl or any reflection
client can call it without the .proto file. Message limits are explicit in both directions; a message
past them is refused by gRPC itself with RESOURCE_EXHAUSTED. Concurrent streams and metadata size per
connection and keepalive come from ``settings.connections``.

Every service's handlers are collected (``HandlerSet``) and registered as one ``ObservedHandlers``, which
wraps each method once with the request context; the only server interceptor is the API-key check, and
only when keys are configured, because grpc.aio runs interceptors as coroutines on every call.

The server is grpc.aio's, or with ``grpc_server="threads"`` grpc's thread-pool server whose threads hand
each call to the event loop (``service.grpc.threaded``): the same handlers, more calls inside the core at
once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from service.auth.access import AccessControl
from service.auth.grpc import AuthInterceptor
from service.core.classifier import Classifier
from service.grpc.health import HEALTH_RETRY_S, ReadinessHealth
from service.grpc.reflection_pool import merged_pool
from service.grpc.servicer import ClassifierServicer, classifier_handler
from service.grpc.threaded import ThreadPoolServer
from service.observability.grpc_metadata import ObservedHandlers
from service.settings import Settings
from service.tls import ServerTls
from service.v2.dataplane import V2DataPlane
from service.v2.grpc_servicer import InferenceServicer
from service.v2.wire import grpc_service_pb2 as v2_pb
from service.v2.wire import grpc_service_pb2_grpc as v2_pb_grpc

log = logging.getLogger(__name__)


class GrpcSurface:
    """A bound, not yet started gRPC server with its health reporting; a gateway ``Surface``."""

    name = "grpc"

    def __init__(
        self, server: grpc.aio.Server | ThreadPoolServer, health: ReadinessHealth, address: str, *, grace_s: float
    ) -> None:
        self.server = server
        self.health = health
        self.address = address
        self._grace_s = grace_s
        self._forced: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        """The bound port (the one the OS picked when settings asked for port 0)."""
        return int(self.address.rsplit(":", 1)[1])

    async def start(self) -> None:
        """Accept calls; health says NOT_SERVING until the classifier is ready."""
        await self.server.start()
        await self.health.start()
        log.info("gRPC listening on %s", self.address)

    async def set_serving(self, serving: bool) -> None:
        """Force the health status (see ``ReadinessHealth.set_serving``)."""
        await self.health.set_serving(serving)

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING first, then refuse new calls and give running ones ``grace`` seconds
        (default: the request timeout plus a margin) before they are cancelled."""
        await self.health.shutdown()
        await self.server.stop(self._grace_s if grace is None else grace)
        log.info("gRPC stopped")

    def force_stop(self) -> None:
        """Cancel running calls now instead of waiting out the grace period (a second signal)."""
        if self._forced is None:
            self._forced = asyncio.create_task(self.server.stop(0), name="grpc-force-stop")


class HandlerSet:
    """Stands in for the server where generated code and grpc's helpers register their services
    (``add_generic_rpc_handlers``, ``add_registered_method_handlers``), so that all of them can be
    wrapped once and registered together."""

    def __init__(self) -> None:
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: tuple[grpc.GenericRpcHandler, ...]) -> None:
        """Keep ``handlers``, asked in registration order."""
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]) -> None:
        """Keep one service's method handlers (what generated ``add_*Servicer_to_server`` registers)."""
        self.handlers.append(grpc.method_handlers_generic_handler(service, dict(handlers)))


def create_grpc_server(
    settings: Settings,
    classifier: Classifier,
    *,
    health_retry_s: float | None = None,
    access: AccessControl | None = None,
    tls: ServerTls | None = None,
) -> GrpcSurface:
    """Build and bind the server on ``settings.grpc_host:grpc_port``; ``start()`` it inside the event loop.

    ``health_retry_s``: how often readiness is re-checked while not ready (default ``HEALTH_RETRY_S``).
    ``access``: API-key checks before any handler runs; ``tls``: serve TLS (else plaintext).
    """
    limit = settings.grpc_max_message_bytes
    connections = settings.connections
    options = [
        ("grpc.max_send_message_length", limit),
        ("grpc.max_receive_message_length", limit),
        # A second gateway on the same port must fail to start, not silently share the port; worker
        # processes of one gateway (service.workers) share it on purpose, the kernel spreading connections.
        ("grpc.so_reuseport", 0 if settings.worker_id is None else 1),
        # Bounds per connection: concurrent calls, metadata size; idle peers are pinged and dropped
        # when they do not answer, and clients may not ping more often than every 10 s.
        ("grpc.max_concurrent_streams", connections.grpc_max_concurrent_streams),
        ("grpc.max_metadata_size", connections.grpc_max_metadata_bytes),
        ("grpc.keepalive_time_ms", int(connections.grpc_keepalive_s * 1000)),
        ("grpc.keepalive_timeout_ms", int(connections.grpc_keepalive_timeout_s * 1000)),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    services = HandlerSet()
    services.add_generic_rpc_handlers((classifier_handler(ClassifierServicer(classifier)),))
    # The Open Inference Protocol (KServe V2) beside classifier.v1, over the same core.
    v2_pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(V2DataPlane(classifier)), services)  # type: ignore[no-untyped-call]
    health = ReadinessHealth(classifier, retry_s=health_retry_s or HEALTH_RETRY_S)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, services)
    served = (pb.DESCRIPTOR, v2_pb.DESCRIPTOR, health_pb2.DESCRIPTOR, reflection_pb2.DESCRIPTOR)
    # The asyncio reflection servicer, registered directly: enable_server_reflection picks the servicer
    # kind from the server's type, and the services are collected in a HandlerSet first.
    reflection_servicer = reflection.aio.ReflectionServicer(
        (
            pb.DESCRIPTOR.services_by_name["Classifier"].full_name,
            v2_pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        pool=merged_pool(list(served)),
    )
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(reflection_servicer, services)
    observed = ObservedHandlers(services.handlers, classifier.metrics)
    gate = None if access is None else AuthInterceptor(access)
    server: grpc.aio.Server | ThreadPoolServer
    if settings.grpc_server == "threads":
        server = ThreadPoolServer(observed, threads=settings.grpc_threads, options=options, gate=gate)
    else:
        # The key check decides per call, before the handler runs (it is the only interceptor, and only
        # when keys are configured); the request context and the error mapping are in the handlers.
        server = grpc.aio.server(interceptors=[] if gate is None else [gate], options=options)
        server.add_generic_rpc_handlers((observed,))
    host = settings.grpc_host
    bind = f"[{host}]:{settings.grpc_port}" if ":" in host else f"{host}:{settings.grpc_port}"
    try:
        port = server.add_insecure_port(bind) if tls is None else server.add_secure_port(bind, tls.grpc_credentials())
    except RuntimeError as exc:
        # The gateway reports start-up OSErrors (a busy REST port) plainly; a busy gRPC port is the same.
        raise OSError(f"gRPC cannot bind {bind}: {exc}") from exc
    return GrpcSurface(server, health, bind.rsplit(":", 1)[0] + f":{port}", grace_s=settings.shutdown_grace_s)
