"""The bench's closed-loop load generator: a fixed number of workers, each sending its next request as
soon as the previous answer arrived, for a fixed time.

HTTP goes over one keep-alive HTTP/1.1 connection per worker, written as a small ``asyncio.Protocol``:
every request is encoded once up front (request line, headers, body), so a request costs the
generator one ``write`` and a scan for the end of the answer — far less CPU than a general-purpose
client, which is what lets one generator core drive the fastest server in the table. gRPC uses
grpc.aio over one channel (HTTP/2 multiplexes the workers' calls), with prebuilt request messages;
``run_grpc_stream`` sends the requests of all waiting workers as one batched ``ClassifyStream`` message.

Latencies are recorded for calls that start after the warm-up and end before the cell's end; requests/s
counts the calls completed in that window. The generator's own CPU time over the window is reported
so its headroom is visible, and the servers' CPU time per completed request (all of a system's servers, and
the process the load reaches alone: the gateway in TF Serving mode).
"""

from __future__ import annotations

import asyncio
import math
import resource
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import grpc
from classifier_client.client import channel_options
from classifier_client.v1 import classifier_pb2 as pb
from classifier_client.v1 import classifier_pb2_grpc as pb_grpc

from service.v2.wire import grpc_service_pb2 as v2_pb
from service.v2.wire import grpc_service_pb2_grpc as v2_pb_grpc

Call = Callable[[int], Awaitable[bool]]
#: Returns the CPU seconds so far of (every server of the system, the server the load reaches); sampled at
#: the start and the end of the measured window.
CpuProbe = Callable[[], tuple[float, float]]
CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 30.0


@dataclass
class CellResult:
    """What one cell measured: counts, the latency distribution and the generator's CPU use."""

    concurrency: int
    duration_s: float
    completed: int
    errors: int
    latencies_ms: list[float] = field(repr=False)
    generator_cpu_s: float
    server_cpu_s: float = math.nan
    first_error: str | None = None
    #: The CPU time of the server the load reaches (the gateway), without the model server behind it.
    front_cpu_s: float = math.nan

    @property
    def rps(self) -> float:
        """Successful and failed calls completed per second of the measured window."""
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile of the recorded latencies, ms (nearest rank); NaN without any."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
        return ordered[rank]

    @property
    def server_cpu(self) -> float:
        """The servers' CPU time over the window, in cores (1.0: one core busy all the time)."""
        return self.server_cpu_s / self.duration_s if self.duration_s > 0 else math.nan

    @property
    def cpu_per_request_us(self) -> float:
        """The servers' CPU time per completed request, microseconds."""
        return self.server_cpu_s / self.completed * 1e6 if self.completed else math.nan

    @property
    def front_cpu_per_request_us(self) -> float:
        """The CPU time per completed request of the server the load reaches, microseconds."""
        return self.front_cpu_s / self.completed * 1e6 if self.completed else math.nan

    @property
    def generator_cpu(self) -> float:
        """The generator's CPU time over the window, as a share of one core."""
        return self.generator_cpu_s / self.duration_s if self.duration_s > 0 else 0.0


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends prebuilt requests and waits for each answer."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self._expected = -1  # bytes of the current answer (head + body) once its head is read
        self._status = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"the server closed the connection ({exc})"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._expected < 0:
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self._buffer[:head_end]).lower()
            self._status = int(head[9:12])
            marker = head.find(b"\r\ncontent-length:")
            if marker < 0:
                self._fail(ValueError("an answer without Content-Length"))
                return
            value_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : value_end if value_end >= 0 else len(head)])
            self._expected = head_end + 4 + length
        if len(self._buffer) >= self._expected:
            del self._buffer[: self._expected]
            self._expected = -1
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(self._status)

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        if self._transport is not None:
            self._transport.close()

    async def send(self, request: bytes) -> int:
        """Write one encoded request; the answer's status code."""
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await asyncio.wait_for(self._waiter, CALL_TIMEOUT_S)

    def close(self) -> None:
        """Close the connection."""
        if self._transport is not None:
            self._transport.close()


def encode_http_request(
    host: str, port: int, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None
) -> bytes:
    """A complete ``POST`` request on a keep-alive connection (``headers``: extra ones, e.g. V2's)."""
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: {content_type}\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("ascii") + body


async def run_http(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    server_cpu: CpuProbe | None = None,
) -> CellResult:
    """Closed loop over ``concurrency`` connections: requests are taken in turn, each worker from its own
    offset, so many different payloads are in flight."""
    loop = asyncio.get_running_loop()
    connections: list[HttpConnection] = []
    for _ in range(concurrency):
        _, protocol = await asyncio.wait_for(loop.create_connection(HttpConnection, host, port), CONNECT_TIMEOUT_S)
        connections.append(protocol)

    def caller(worker: int) -> Call:
        connection = connections[worker]

        async def call(index: int) -> bool:
            return await connection.send(requests[index % len(requests)]) == 200

        return call

    try:
        callers = [caller(w) for w in range(concurrency)]
        return await _closed_loop(callers, len(requests), duration_s, warmup_s, server_cpu)
    finally:
        for connection in connections:
            connection.close()


async def run_grpc(
    target: str,
    requests: Sequence[pb.ClassifyRequest],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    server_cpu: CpuProbe | None = None,
) -> CellResult:
    """Closed loop of unary ``Classify`` calls from ``concurrency`` workers over one grpc.aio channel."""
    async with grpc.aio.insecure_channel(target, options=channel_options(32 * 1024 * 1024)) as channel:
        await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_S)
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]

        async def call(index: int) -> bool:
            request = requests[index % len(requests)]
            answer = await stub.Classify(request, timeout=CALL_TIMEOUT_S)
            return len(answer.predictions) == len(request.inputs)

        return await _closed_loop([call] * concurrency, len(requests), duration_s, warmup_s, server_cpu)


async def run_grpc_stream(
    target: str,
    requests: Sequence[pb.ClassifyRequest],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    server_cpu: CpuProbe | None = None,
) -> CellResult:
    """Closed loop over one ``ClassifyStream``: the requests of every waiting worker go as one message
    (``ClassifyRequest.batch``; a plain request when only one waits), and the next message leaves when
    the answer to the previous one arrived, so ``concurrency`` requests share each message round trip."""
    loop = asyncio.get_running_loop()
    waiting: list[tuple[pb.ClassifyRequest, asyncio.Future[bool]]] = []
    wake = asyncio.Event()
    broken: list[BaseException] = []

    async def pump(stream: grpc.aio.StreamStreamCall) -> None:
        batch: list[tuple[pb.ClassifyRequest, asyncio.Future[bool]]] = []
        try:
            while True:
                await wake.wait()
                wake.clear()
                batch = waiting[:]
                del waiting[:]
                if not batch:
                    continue
                single = len(batch) == 1
                await stream.write(batch[0][0] if single else pb.ClassifyRequest(batch=[r for r, _ in batch]))
                answer = await stream.read()
                if answer is grpc.aio.EOF:
                    raise ConnectionError("the server ended the stream")
                answers = [answer] if single else list(answer.batch)
                for (request, future), item in zip(batch, answers, strict=True):
                    ok = item.WhichOneof("result") == "response"
                    future.set_result(ok and len(item.response.predictions) == len(request.inputs))
        except BaseException as exc:
            broken.append(exc)
            for _, future in waiting + batch:
                if not future.done():
                    future.set_exception(ConnectionError(f"the stream broke: {exc!r}"))
            raise

    async with grpc.aio.insecure_channel(target, options=channel_options(32 * 1024 * 1024)) as channel:
        await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_S)
        stub = pb_grpc.ClassifierStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.ClassifyStream(timeout=CALL_TIMEOUT_S + warmup_s + duration_s)
        pumping = asyncio.create_task(pump(stream))

        async def call(index: int) -> bool:
            if broken:
                raise ConnectionError(f"the stream broke: {broken[0]!r}")
            future: asyncio.Future[bool] = loop.create_future()
            waiting.append((requests[index % len(requests)], future))
            wake.set()
            return await future

        try:
            return await _closed_loop([call] * concurrency, len(requests), duration_s, warmup_s, server_cpu)
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            stream.cancel()


async def run_grpc_v2(
    target: str,
    requests: Sequence[v2_pb.ModelInferRequest],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float,
    server_cpu: CpuProbe | None = None,
) -> CellResult:
    """Closed loop of unary V2 ``ModelInfer`` calls, as ``run_grpc`` does for ``Classify``."""
    async with grpc.aio.insecure_channel(target, options=channel_options(32 * 1024 * 1024)) as channel:
        await asyncio.wait_for(channel.channel_ready(), CONNECT_TIMEOUT_S)
        stub = v2_pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]

        async def call(index: int) -> bool:
            answer = await stub.ModelInfer(requests[index % len(requests)], timeout=CALL_TIMEOUT_S)
            return len(answer.raw_output_contents) == 1

        return await _closed_loop([call] * concurrency, len(requests), duration_s, warmup_s, server_cpu)


async def _closed_loop(
    callers: Sequence[Call], n_requests: int, duration_s: float, warmup_s: float, server_cpu: CpuProbe | None
) -> CellResult:
    started = time.perf_counter()
    measure_from = started + warmup_s
    end = measure_from + duration_s
    latencies: list[float] = []
    counts = {"completed": 0, "errors": 0}
    first_error: list[str] = []
    stride = max(1, n_requests // max(1, len(callers)))

    async def worker(number: int, call: Call) -> None:
        index = number * stride
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            try:
                ok = await call(index)
                error = None if ok else "unexpected answer"
            except (OSError, TimeoutError, ValueError, grpc.RpcError) as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            index += 1
            if t0 >= measure_from and t1 <= end:
                counts["completed"] += 1
                latencies.append((t1 - t0) * 1000)
                if not ok:
                    counts["errors"] += 1
                    if not first_error and error:
                        first_error.append(error[:300])
            if not ok and isinstance(error, str) and "ConnectionError" in error:
                return  # this worker's connection is gone

    probe = server_cpu or (lambda: (math.nan, math.nan))
    marks: dict[str, float] = {}

    async def mark_window() -> None:
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        server, front = probe()
        marks.update(generator=_process_cpu(), server=server, front=front)
        await asyncio.sleep(max(0.0, end - time.perf_counter()))
        server, front = probe()
        marks.update(generator_end=_process_cpu(), server_end=server, front_end=front, end=time.perf_counter())

    marker = asyncio.create_task(mark_window())
    await asyncio.gather(*(worker(n, c) for n, c in enumerate(callers)))
    await marker
    window = marks["end"] - measure_from
    return CellResult(
        concurrency=len(callers),
        duration_s=window,
        completed=counts["completed"],
        errors=counts["errors"],
        latencies_ms=latencies,
        generator_cpu_s=marks["generator_end"] - marks["generator"],
        server_cpu_s=marks["server_end"] - marks["server"],
        first_error=first_error[0] if first_error else None,
        front_cpu_s=marks["front_end"] - marks["front"],
    )


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
