"""``python -m loadtest.bench.otlp_sink --port P``: an OTLP/gRPC trace receiver for the bench's tracing
extra, built on ``opentelemetry-proto``. It accepts every export, counts the spans, and prints the count
when stopped (SIGTERM or SIGINT), so the bench's log shows that spans did arrive."""

from __future__ import annotations

import argparse
import asyncio
import signal

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class CountingReceiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Counts the spans and the export calls it receives."""

    def __init__(self) -> None:
        self.spans = 0
        self.exports = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        del context  # every export is accepted
        self.exports += 1
        self.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def serve(port: int) -> CountingReceiver:
    """Receive on ``127.0.0.1:port`` until SIGTERM or SIGINT."""
    receiver = CountingReceiver()
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"otlp_sink: listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await server.stop(1)
    return receiver


def main(argv: list[str] | None = None) -> int:
    """Run the receiver; print what it received when stopped."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.otlp_sink")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    receiver = asyncio.run(serve(args.port))
    print(f"otlp_sink: {receiver.spans} spans in {receiver.exports} exports", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
