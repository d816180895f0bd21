"""Real OTLP trace receivers for the tests, built on opentelemetry-proto (OTLP/gRPC on grpc.aio, OTLP/HTTP on
the standard library's HTTP server), and a metadata-recording gRPC pass-through proxy (to see what the
gateway sends to TF Serving)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    """One exported span, flattened: ids as hex, times in nanoseconds, attributes as plain values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    service: str

    @property
    def duration_us(self) -> float:
        return (self.end_ns - self.start_ns) / 1000


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class OtlpReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps every ``ExportTraceServiceRequest`` it receives."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.port = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        return _flattened(self.requests)


def _flattened(requests: list[trace_service_pb2.ExportTraceServiceRequest]) -> list[ReceivedSpan]:
    found = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            service=str(resource.get("service.name")),
                        )
                    )
    return found


@asynccontextmanager
async def otlp_receiver() -> AsyncIterator[OtlpReceiver]:
    """An OTLP/gRPC trace receiver on a free loopback port."""
    receiver = OtlpReceiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    receiver.port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield receiver
    finally:
        await server.stop(None)


class HttpOtlpReceiver(ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: keeps every protobuf ``ExportTraceServiceRequest`` POSTed to ``/v1/traces``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ExportHandler)
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.content_types: list[str] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/traces"

    def spans(self) -> list[ReceivedSpan]:
        return _flattened(self.requests)


class _ExportHandler(BaseHTTPRequestHandler):
    server: HttpOtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        self.server.content_types.append(self.headers.get("Content-Type", ""))
        self.server.requests.append(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
        answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was received."""


@contextmanager
def otlp_http_receiver() -> Iterator[HttpOtlpReceiver]:
    """An OTLP/HTTP trace receiver on a free loopback port, served by a thread."""
    receiver = HttpOtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join()


class _Forward(grpc.GenericRpcHandler):
    """Forwards every unary call, bytes as they are, and records each call's metadata."""

    def __init__(self, channel: grpc.aio.Channel, seen: list[tuple[str, dict[str, str]]]) -> None:
        self._channel = channel
        self._seen = seen

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        call = self._channel.unary_unary(method, request_serializer=None, response_deserializer=None)

        async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self._seen.append((method, dict(context.invocation_metadata() or ())))
            return await call(request, timeout=context.time_remaining())  # type: ignore[no-any-return]

        return grpc.unary_unary_rpc_method_handler(forward)


@asynccontextmanager
async def recording_proxy(target: str) -> AsyncIterator[tuple[int, list[tuple[str, dict[str, str]]]]]:
    """A gRPC pass-through to ``target`` on a free loopback port; yields the port and the metadata seen."""
    seen: list[tuple[str, dict[str, str]]] = []
    async with grpc.aio.insecure_channel(target) as channel:
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((_Forward(channel, seen),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            yield port, seen
        finally:
            await server.stop(None)
            await asyncio.sleep(0)
