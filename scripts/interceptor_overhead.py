"""What the gRPC error interceptor costs per call: sequential unary calls to a trivial classifier servicer
on loopback, with ``service.grpc.errors.ErrorInterceptor`` and with no interceptor, in alternating rounds.

    python scripts/interceptor_overhead.py --calls 2000 --rounds 5

Prints the median CPU microseconds per call (client and server, one process: steadier than wall time on
a shared machine) of each variant and their difference. The servicer answers
``ListModels`` with an empty list, so the figure is the transport plus the interceptor. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import grpc
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

from service.grpc.errors import ErrorInterceptor


class _Trivial(pb_grpc.ClassifierServicer):
    async def ListModels(
        self, _request: pb.ListModelsRequest, _context: grpc.aio.ServicerContext
    ) -> pb.ListModelsResponse:
        return pb.ListModelsResponse()


async def _per_call_us(intercepted: bool, calls: int) -> float:
    server = grpc.aio.server(interceptors=[ErrorInterceptor()] if intercepted else [])
    pb_grpc.add_ClassifierServicer_to_server(_Trivial(), server)
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
    figures: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for intercepted in (False, True):
            figures[intercepted].append(await _per_call_us(intercepted, calls))
    bare, wrapped = statistics.median(figures[False]), statistics.median(figures[True])
    print(f"no interceptor:    {bare:8.1f} us/call  rounds {[round(v) for v in figures[False]]}")
    print(f"ErrorInterceptor:  {wrapped:8.1f} us/call  rounds {[round(v) for v in figures[True]]}")
    print(f"interceptor cost:  {wrapped - bare:8.1f} us/call")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per round and variant")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args()
    asyncio.run(_main(args.calls, args.rounds))


if __name__ == "__main__":
    main()
