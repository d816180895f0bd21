"""Dynamic micro-batching for one model version, shared by both backends.

Requests of any row count queue here; a collector coalesces them into one model call of at most
``max_batch_size`` rows, waiting at most ``batch_timeout_ms`` after the oldest queued request for
more rows to arrive (with ``eager_when_idle``, only while another call of the version is running:
an idle model then takes what is queued at once, so a lone request pays no batching delay). A model
call is an awaitable ``BatchCall`` (the embedded runtime runs the model in a thread,
``service.backends.embedded.batcher``; TF Serving mode sends one Predict RPC), at most ``slots`` at a
time per version; while every slot is busy, requests keep queueing and the next call takes a fuller
batch. Each request gets its own rows of the output, in order; a failed call fails its batch only.

A backend whose model call can also run synchronously (the embedded runtime) may pass it as
``inline_call``: a request submitted ``alone`` (no other request of its model in flight) to an idle
version whose last call took at most ``inline_call_ms`` then runs on the event loop at once, without the
collector's loop turns and the thread hand-off, which at one client were a large part of its latency.

Bounds: a request larger than ``max_batch_size`` is split into several calls; more than
``max_queued_rows`` waiting rows refuse new requests with Overloaded; a request whose deadline passes
is answered DeadlineExceeded at once (and dropped from the queue if it had not been taken yet, so it is
never sent). A call gets the latest deadline of the requests in its batch (None if one has none).
``close`` refuses new requests and answers every accepted one before it returns.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from service.errors import DeadlineExceeded, InternalError, ModelNotReady, Overloaded, ServiceError
from service.observability import tracing
from service.settings import BatchingSettings

log = logging.getLogger(__name__)

#: One model call: the batch's parts (one per request, in queue order) and the seconds left to the latest
#: deadline among them (None: no deadline) -> the outputs of all their rows, in the same order.
BatchCall = Callable[[list[np.ndarray], float | None], Awaitable[np.ndarray]]


@dataclass(eq=False)
class _Request:
    """Rows waiting for one model call; ``queued`` until taken into a batch or abandoned."""

    rows: np.ndarray
    future: asyncio.Future[np.ndarray]
    enqueued: float
    deadline: float | None  # loop time; None: none
    context: contextvars.Context  # the submitting request's (its trace span, its request id)
    queued: bool = True
    # time.monotonic() when its model call started and ended, and that call's rows (for the request's trace)
    call_started: float = 0.0
    call_ended: float = 0.0
    call_rows: int = 0


class BatchQueue:
    """Coalesces concurrent predictions for one model version into batched model calls (``BatchCall``)."""

    def __init__(
        self,
        call: BatchCall,
        *,
        settings: BatchingSettings,
        slots: int,
        on_batch: Callable[[int], None] | None = None,
        label: str = "model",
        inline_call: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        self._call = call
        self._inline_call = inline_call
        self._inline_max_s = settings.inline_call_ms / 1000
        #: Seconds the last model call took, from its start to its answer; unknown (inf) before the first.
        self._last_call_s = float("inf")
        self._max_rows = settings.max_batch_size
        self._window = settings.batch_timeout_ms / 1000
        self._eager_when_idle = settings.eager_when_idle
        self._calls_running = 0  # model calls between their start and their slot's release
        self._max_queued = settings.max_queued_rows
        self._slots = asyncio.Semaphore(slots)
        self._on_batch = on_batch
        self._label = label
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._arrived = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self._closing = False
        self._collector: asyncio.Task[None] | None = None

    @property
    def queued_rows(self) -> int:
        """Rows accepted and not yet taken into a model call."""
        return self._queued_rows

    @property
    def accepting(self) -> bool:
        """False once ``close`` began."""
        return not self._closing

    def start(self) -> None:
        """Start the collector; call from the event loop that will submit."""
        if self._collector is None:
            self._collector = asyncio.create_task(self._collect(), name=f"batcher {self._label}")

    async def submit(self, rows: np.ndarray, timeout: float | None, *, alone: bool = False) -> np.ndarray:
        """The model's output for ``rows`` (``[N, ...]``), computed within a batch.

        ``alone``: no other request of the model is in flight, so nothing could join this one's batch (the
        inline rule in the module docstring).
        """
        if self._closing or self._collector is None:
            raise ModelNotReady(f"{self._label} is unloading")
        count = len(rows)
        if self._queued_rows + count > self._max_queued:
            raise Overloaded(
                f"{self._label} has {self._queued_rows} rows queued; {count} more would pass the limit"
                f" of {self._max_queued}"
            )
        if timeout is not None and timeout <= 0:
            raise DeadlineExceeded("the request's deadline passed before it was queued")
        if alone and self._runs_inline(rows):
            return self._run_inline(rows)
        traced_at = time.monotonic()
        requests = self._enqueue(rows, timeout)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(timeout, self._expire, requests) if timeout is not None else None
        try:
            # By index: a request bound to a name (a loop variable too) would outlive a raise in this frame.
            if len(requests) == 1:
                outputs = [await requests[0].future]
            else:
                outputs = [await requests[i].future for i in range(len(requests))]
            if tracing.tracing_enabled():
                _trace(requests, traced_at)
            return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)
        finally:
            if timer is not None:
                timer.cancel()
            _abandon(requests)
            # A failure raised here holds this frame, and the requests' futures hold the failure: drop them,
            # or the rows stay in a cycle that an idle gateway never collects (ARCHITECTURE.md, "Why").
            requests.clear()

    def _runs_inline(self, rows: np.ndarray) -> bool:
        return (
            self._inline_call is not None
            and self._last_call_s <= self._inline_max_s
            and len(rows) <= self._max_rows
            and not self._calls_running
            and not self._has_queued()
        )

    def _run_inline(self, rows: np.ndarray) -> np.ndarray:
        # Like _execute for a batch of one, on the loop: no deadline timer, as a running call cannot stop anyway.
        assert self._inline_call is not None
        if self._on_batch is not None:
            self._on_batch(len(rows))
        started = time.monotonic()
        try:
            output = self._inline_call(rows)
        except ServiceError:
            raise
        except Exception as exc:
            raise _call_error(exc, self._label) from exc
        ended = time.monotonic()
        self._last_call_s = ended - started
        _check_rows(output, len(rows))
        if tracing.tracing_enabled():
            _trace_call(started, started, ended, len(rows))
        return output

    def _enqueue(self, rows: np.ndarray, timeout: float | None) -> list[_Request]:
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = None if timeout is None else now + timeout
        context = contextvars.copy_context()
        requests = []
        for start in range(0, len(rows), self._max_rows):
            request = _Request(rows[start : start + self._max_rows], loop.create_future(), now, deadline, context)
            request.future.add_done_callback(lambda _, r=request: self._leave_queue(r))  # type: ignore[misc]
            requests.append(request)
        self._queue.extend(requests)
        self._queued_rows += len(rows)
        self._arrived.set()
        return requests

    async def close(self) -> None:
        """Refuse new requests, run every queued one, and return when all are answered."""
        self._closing = True
        self._arrived.set()
        if self._collector is not None:
            await self._collector
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # -- internals ----------------------------------------------------------------------------------

    def _leave_queue(self, request: _Request) -> None:
        if request.queued:
            request.queued = False
            self._queued_rows -= len(request.rows)

    def _expire(self, requests: list[_Request]) -> None:
        for request in requests:
            if not request.future.done():
                where = "while queued" if request.queued else "while the model ran"
                self._leave_queue(request)
                request.future.set_exception(DeadlineExceeded(f"the request's deadline passed {where}"))

    def _has_queued(self) -> bool:
        # Done-callbacks run a loop turn late, so an answered head may still look queued.
        while self._queue and (not self._queue[0].queued or self._queue[0].future.done()):
            self._leave_queue(self._queue.popleft())
        return bool(self._queue)

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._has_queued():
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            await self._slots.acquire()
            # Rows that arrive while this waits join the batch, up to the window of the oldest one. With
            # eager_when_idle, the window only applies while another call of this version runs: an idle
            # model takes a request at once (waiting would only add latency at low load), and under load
            # rows queue up behind the running call anyway.
            while (
                (self._calls_running or not self._eager_when_idle)
                and self._has_queued()
                and self._queued_rows < self._max_rows
                and not self._closing
            ):
                left = self._queue[0].enqueued + self._window - loop.time()
                if left <= 0:
                    break
                self._arrived.clear()
                timer = loop.call_later(left, self._arrived.set)
                await self._arrived.wait()
                timer.cancel()
            batch = self._take_batch()
            if not batch:
                self._slots.release()
                continue
            self._calls_running += 1
            # The call runs in the oldest request's context: an RPC has one parent, so TF Serving's Predict span
            # and the traceparent it sends continue that request's trace, and its log lines carry its id.
            task = asyncio.create_task(self._execute(batch), context=batch[0].context)
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    def _take_batch(self) -> list[_Request]:
        batch: list[_Request] = []
        rows = 0
        while self._has_queued():
            request = self._queue[0]
            if batch and rows + len(request.rows) > self._max_rows:
                break
            self._queue.popleft()
            self._leave_queue(request)
            batch.append(request)
            rows += len(request.rows)
        return batch

    async def _execute(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        try:
            parts = [request.rows for request in batch]
            rows = sum(len(part) for part in parts)
            if self._on_batch is not None:
                self._on_batch(rows)
            deadlines = [request.deadline for request in batch]
            timeout = None if None in deadlines else max(d for d in deadlines if d is not None) - loop.time()
            started = time.monotonic()
            output = await self._call(parts, timeout)
            ended = time.monotonic()
            self._last_call_s = ended - started
            _check_rows(output, rows)
            for request in batch:
                request.call_started, request.call_ended, request.call_rows = started, ended, rows
        except Exception as exc:
            error = _call_error(exc, self._label)
            _fail(batch, error)
            del error, batch  # ``exc``'s traceback holds this frame: no cycle through them (see ``submit``)
        else:
            start = 0
            for request in batch:
                end = start + len(request.rows)
                if not request.future.done():
                    request.future.set_result(output[start:end])
                start = end
        finally:
            self._calls_running -= 1
            self._slots.release()


def _check_rows(output: np.ndarray, rows: int) -> None:
    if len(output) != rows:
        raise InternalError(f"the model answered {len(output)} rows for {rows}")


def _call_error(exc: Exception, label: str) -> ServiceError:
    """What a failed model call answers its requests: our own error as it is, anything else a logged 500."""
    if isinstance(exc, ServiceError):
        return exc
    log.error("model call of %s failed", label, exc_info=exc)
    return InternalError("the model call failed")


def _fail(requests: list[_Request], error: Exception) -> None:
    for request in requests:
        if not request.future.done():
            request.future.set_exception(error)


def _abandon(requests: list[_Request]) -> None:
    """Cancel what is still pending (the caller went away: free its place) and mark failures as seen."""
    for request in requests:
        if not request.future.done():
            request.future.cancel()
        elif not request.future.cancelled():
            request.future.exception()  # retrieved: the first failure was raised already


def _trace(requests: list[_Request], traced_at: float) -> None:
    for request in requests:
        _trace_call(traced_at, request.call_started, request.call_ended, request.call_rows)


def _trace_call(queued_at: float, started: float, ended: float, rows: int) -> None:
    tracing.record_span("queue wait", queued_at, started)
    tracing.record_span("model call", started, ended, **{"classifier.batch_rows": rows})
