"""``create_grpc_server(settings, classifier) -> GrpcSurface``: the gRPC surface, built explicitly.

One grpc.aio server carries the classifier service (requests parsed in the servicer, errors mapped by
``ErrorInterceptor``), the
standard health service following readiness, and server reflection, so grpcurl or any reflection
client can call it without the .proto file. Message limits are explicit in both directions; a message
past them is refused by gRPC itself with RESOURCE_EXHAUSTED. Concurrent streams and metadata size per
connection and keepalive come from ``settings.connections``.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from service.core.classifier import Classifier
from service.grpc.errors import ErrorInterceptor
from service.grpc.health import ReadinessHealth
from service.grpc.servicer import ClassifierServicer, classifier_handler
from service.settings import Settings

log = logging.getLogger(__name__)


class GrpcSurface:
    """A bound, not yet started gRPC server with its health reporting; a gateway ``Surface``."""

    name = "grpc"

    def __init__(self, server: grpc.aio.Server, health: ReadinessHealth, address: str, *, grace_s: float) -> None:
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


def create_grpc_server(
    settings: Settings, classifier: Classifier, *, health_poll_s: float | None = None
) -> GrpcSurface:
    """Build and bind the server on ``settings.grpc_host:grpc_port``; ``start()`` it inside the event loop.

    ``health_poll_s``: how often readiness is re-checked once ready (default ``settings.poll_interval_s``).
    """
    limit = settings.grpc_max_message_bytes
    connections = settings.connections
    server = grpc.aio.server(
        interceptors=[ErrorInterceptor()],
        options=[
            ("grpc.max_send_message_length", limit),
            ("grpc.max_receive_message_length", limit),
            # A second gateway on the same port must fail to start, not silently share the port.
            ("grpc.so_reuseport", 0),
            # Bounds per connection: concurrent calls, metadata size; idle peers are pinged and dropped
            # when they do not answer, and clients may not ping more often than every 10 s.
            ("grpc.max_concurrent_streams", connections.grpc_max_concurrent_streams),
            ("grpc.max_metadata_size", connections.grpc_max_metadata_bytes),
            ("grpc.keepalive_time_ms", int(connections.grpc_keepalive_s * 1000)),
            ("grpc.keepalive_timeout_ms", int(connections.grpc_keepalive_timeout_s * 1000)),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
            ("grpc.http2.max_pings_without_data", 0),
        ],
    )
    server.add_generic_rpc_handlers((classifier_handler(ClassifierServicer(classifier)),))
    health = ReadinessHealth(classifier, poll_s=health_poll_s or settings.poll_interval_s)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    reflection.enable_server_reflection(
        (
            pb.DESCRIPTOR.services_by_name["Classifier"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    host = settings.grpc_host
    bind = f"[{host}]:{settings.grpc_port}" if ":" in host else f"{host}:{settings.grpc_port}"
    try:
        port = server.add_insecure_port(bind)
    except RuntimeError as exc:
        # The gateway reports start-up OSErrors (a busy REST port) plainly; a busy gRPC port is the same.
        raise OSError(f"gRPC cannot bind {bind}: {exc}") from exc
    # In-flight calls have at most their deadline to finish; a little slack for the answer.
    grace_s = settings.request_timeout_s + 5
    return GrpcSurface(server, health, bind.rsplit(":", 1)[0] + f":{port}", grace_s=grace_s)
