"""What the gateway's per-call gRPC plumbing costs: sequential unary calls to a trivial classifier servicer
on loopback, in alternating rounds, in three arrangements:

- ``bare``: the servicer's handler as it is, no interceptor;
- ``handlers``: what the gateway does, the request context (``ObservedHandlers``) and the error mapping
  (``mapped_unary``) wrapped around the handler once;
- ``interceptor``: the same work behind one pass-through server interceptor, which grpc.aio runs as a
  coroutine chain on every call (how the gateway was arranged before).

    python scripts/interceptor_overhead.py --calls 2000 --rounds 5

Prints the median CPU microseconds per call (client and server, one process: steadier than wall time on
a shared machine). The servicer answers ``ListModels`` with an empty list, so the figure is the transport
plus the plumbing. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

from service.grpc.errors import mapped_unary
from service.metrics import Metrics
from service.observability.grpc_metadata import ObservedHandlers

ARRANGEMENTS = ("bare", "handlers", "interceptor")


async def _list_models(_request: pb.ListModelsRequest, _context: grpc.aio.ServicerContext) -> pb.ListModelsResponse:
    return pb.ListModelsResponse()


class _PassThrough(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        return await continuation(handler_call_details)


def _server(arrangement: str) -> grpc.aio.Server:
    behaviour = _list_models if arrangement == "bare" else mapped_unary(_list_models)
    handler = grpc.method_handlers_generic_handler(
        "classifier.v1.Classifier",
        {
            "ListModels": grpc.unary_unary_rpc_method_handler(
                behaviour,
                request_deserializer=pb.ListModelsRequest.FromString,
                response_serializer=pb.ListModelsResponse.SerializeToString,
            )
        },
    )
    server = grpc.aio.server(interceptors=[_PassThrough()] if arrangement == "interceptor" else [])
    server.add_generic_rpc_handlers((handler if arrangement == "bare" else ObservedHandlers([handler], Metrics()),))
    return server


async def _per_call_us(arrangement: str, calls: int) -> float:
    server = _server(arrangement)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
            for _ in range(100):
                await stub.ListModels(pb.ListModelsRequest())
            started = time.process_time()
            for _ in range(calls):
                await stub.ListModels(pb.ListModelsRequest())
            return (time.process_time() - started) / calls * 1e6
    finally:
        await server.stop(None)


async def _main(calls: int, rounds: int) -> None:
    figures: dict[str, list[float]] = {a: [] for a in ARRANGEMENTS}
    for _ in range(rounds):
        for arrangement in ARRANGEMENTS:
            figures[arrangement].append(await _per_call_us(arrangement, calls))
    bare = statistics.median(figures["bare"])
    for arrangement in ARRANGEMENTS:
        median = statistics.median(figures[arrangement])
        rounds_us = [round(v) for v in figures[arrangement]]
        print(f"{arrangement:<12} {median:8.1f} us/call (+{median - bare:6.1f})  rounds {rounds_us}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    asyncio.run(_main(args.calls, args.rounds))


if __name__ == "__main__":
    main()
