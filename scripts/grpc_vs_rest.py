"""Figures for the gRPC surface against a running gateway: one text classification over gRPC vs REST at
low load (sequential calls, median and p90), then unary vs streaming throughput over gRPC.

    python scripts/grpc_vs_rest.py --grpc 127.0.0.1:50051 --rest http://127.0.0.1:8000 --model mail \\
        --text "win a free prize now"

Sequential latency: one call at a time after a warm-up, so it measures the surface and the core, not
queueing. Throughput: ``--total`` one-input requests, unary with ``--concurrency`` calls in flight
(asyncio client), then the same requests over one ``ClassifyStream``. Not a test; prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc
import httpx
from classifier_client import AsyncClassifierClient, ClassifierError, build_request
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc


async def _timed(call: Callable[[], Awaitable[object]], n: int) -> list[float]:
    for _ in range(min(20, n)):
        await call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


def _row(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name:<28} median {statistics.median(ordered) * 1e3:7.2f} ms   p90 {p90 * 1e3:7.2f} ms   n={len(ordered)}"


async def latency(args: argparse.Namespace) -> None:
    """Sequential single-text classifications: REST, gRPC via the client, gRPC via the bare stub."""
    body = {"instances": [{"text": args.text}]}
    request = build_request(args.model, [pb.Input(text=args.text)])
    async with (
        httpx.AsyncClient(base_url=args.rest, timeout=10) as rest,
        AsyncClassifierClient(args.grpc) as client,
        grpc.aio.insecure_channel(args.grpc) as channel,
    ):
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]

        async def rest_call() -> None:
            response = await rest.post(f"/v1/models/{args.model}:classify", json=body)
            response.raise_for_status()

        async def grpc_call() -> None:
            await client.classify_text(args.model, args.text)

        async def stub_call() -> None:
            await stub.Classify(request, timeout=10)

        print(_row("REST  (httpx, JSON)", await _timed(rest_call, args.n)))
        print(_row("gRPC  (client, unary)", await _timed(grpc_call, args.n)))
        print(_row("gRPC  (bare stub, unary)", await _timed(stub_call, args.n)))


async def throughput(args: argparse.Namespace) -> None:
    """``--total`` requests: unary with ``--concurrency`` in flight, then one stream."""
    texts = [f"{args.text} {i}" for i in range(args.total)]
    requests = [build_request(args.model, [pb.Input(text=text)]) for text in texts]
    async with AsyncClassifierClient(args.grpc, timeout=60) as client:
        pending = iter(texts)
        failures = 0

        async def worker() -> None:
            nonlocal failures
            for text in pending:
                try:
                    await client.classify_text(args.model, text)
                except ClassifierError:
                    failures += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        unary_s = time.perf_counter() - started

        started = time.perf_counter()
        answers = [item async for item in client.classify_stream(requests, timeout=300)]
        stream_s = time.perf_counter() - started
        stream_failures = sum(isinstance(a, ClassifierError) for a in answers)

    print(f"unary  x{args.concurrency:<3} in flight   {args.total / unary_s:8.0f} req/s   failures {failures}")
    print(f"stream (one ClassifyStream)  {args.total / stream_s:8.0f} req/s   failures {stream_failures}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grpc", default="127.0.0.1:50051", help="gateway gRPC address")
    parser.add_argument("--rest", default="http://127.0.0.1:8000", help="gateway REST base URL")
    parser.add_argument("--model", required=True, help="a text model")
    parser.add_argument("--text", default="a short message to classify")
    parser.add_argument("--n", type=int, default=200, help="sequential calls per surface")
    parser.add_argument("--total", type=int, default=2000, help="requests of the throughput runs")
    parser.add_argument("--concurrency", type=int, default=32, help="unary calls in flight")
    args = parser.parse_args()
    asyncio.run(latency(args))
    asyncio.run(throughput(args))


if __name__ == "__main__":
    main()
