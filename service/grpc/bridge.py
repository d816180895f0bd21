"""``LoopBridge``: grpc.aio method handlers served by grpc's thread-pool server, each call's behaviour run
on the gateway's event loop.

Why (issue 12): a busy grpc.aio server accepts the next call only when its event loop comes round again,
so few unary calls are inside the core at once and the micro-batcher gets 1-2 rows per model call (README,
"Where the time goes"). grpc's thread-pool server accepts calls on its own threads; each pool thread hands
its call to the loop (``run_coroutine_threadsafe``) and waits for the answer, so up to the pool's size of
calls can be inside the core together. The handlers are the same coroutines grpc.aio runs; they see a
``LoopContext``, the part of ``grpc.aio.ServicerContext`` that the gateway's handlers and grpc's asyncio
health and reflection servicers use, over the pool thread's ``grpc.ServicerContext``.

Cancellation: the sync context's termination callback (the client went away, the deadline passed, the
server stopped) cancels the call's task on the loop, so the ``CancelledError`` runs through the core's
awaits as it does under grpc.aio; after a normal end the task is already done and the callback does nothing.

Streams: a reader thread (from a pool as large as the server's, so at most one per running call) moves
requests from grpc's blocking iterator to the loop, at most ``READ_AHEAD`` ahead of what the handler has
taken; answers go back through a queue that the call's pool thread drains, at most ``WRITE_AHEAD`` ahead.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

log = logging.getLogger(__name__)

#: Requests of one stream read ahead of the handler (the handler's own window bounds what it starts).
READ_AHEAD = 4
#: Answers of one stream computed ahead of the thread that sends them.
WRITE_AHEAD = 4
#: More seconds left than this is no deadline (a century).
NO_DEADLINE_S = 100 * 365 * 24 * 3600.0


@dataclass(frozen=True)
class _End:
    """The end of a stream moved between threads: ``error`` None when it ended normally."""

    error: BaseException | None = None


class LoopContext:
    """What the asyncio handlers ask of ``grpc.aio.ServicerContext``, answered from a sync server's context;
    used on the loop. ``abort`` records the status for the pool thread, which ends the call with it."""

    def __init__(self, context: grpc.ServicerContext, answers: _Answers | None = None) -> None:
        self._context = context
        self._answers = answers
        self._code: grpc.StatusCode | None = None
        self.details = ""

    def invocation_metadata(self) -> Any:
        """The call's metadata, as grpc.aio gives it."""
        return self._context.invocation_metadata()

    def time_remaining(self) -> float | None:
        """Seconds left of the caller's deadline, None without one (as grpc.aio says it)."""
        left: float = self._context.time_remaining()
        # The sync server reports a call without a deadline as one at gRPC's infinite future (~9.2e18 s).
        return None if left > NO_DEADLINE_S else left

    def set_trailing_metadata(self, metadata: Any) -> None:
        """Metadata sent with the status."""
        self._context.set_trailing_metadata(metadata)

    def peer(self) -> str:
        """The caller's address."""
        return str(self._context.peer())

    def code(self) -> grpc.StatusCode | None:
        """The status an ``abort`` set; None while the call has not been aborted."""
        return self._code

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()) -> None:
        """End the call with ``code`` (raises ``grpc.aio.AbortError``, as grpc.aio does)."""
        if trailing_metadata:
            self._context.set_trailing_metadata(trailing_metadata)
        self._code = code
        self.details = details
        raise grpc.aio.AbortError()

    async def write(self, message: Any) -> None:
        """Send one answer of a streaming call (grpc's asyncio health ``Watch`` writes instead of yielding)."""
        if self._answers is None:
            raise RuntimeError("write() on a call that does not stream its answers")
        await self._answers.put(message)


class _Answers:
    """A streaming call's answers, from its task on the loop to the pool thread that sends them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(WRITE_AHEAD)

    async def put(self, answer: Any) -> None:
        await self._room.acquire()
        self._queue.put(answer)

    def end(self, error: BaseException | None) -> None:
        self._queue.put(_End(error))

    def drain(self) -> Iterator[Any]:
        """Yield answers until the end; raise what ended the stream with an error."""
        while not isinstance(item := self._queue.get(), _End):
            self._loop.call_soon_threadsafe(self._room.release)
            yield item
        if item.error is not None:
            try:
                raise item.error
            finally:
                del item  # the error's traceback holds this frame: no cycle through it


class _Requests:
    """A call's request stream as an async iterator on the loop, read by a reader thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._room = threading.Semaphore(READ_AHEAD)
        self._closed = False
        #: Set once the request stream has ended (sent completely, failed, or the call is over).
        self.ended = threading.Event()

    def read(self, requests: Iterator[Any]) -> None:
        """Runs on a reader thread until the request stream ends, fails, or ``close`` is called."""
        end = _End()
        try:
            for request in requests:
                self._room.acquire()
                if self._closed:
                    return
                self._loop.call_soon_threadsafe(self._queue.put_nowait, request)
        except Exception:
            # grpc raises here once the call is over (cancelled, past its deadline, a request that did not
            # parse): the handler ends as cancelled, not with an "unexpected error" and its traceback.
            end = _End(asyncio.CancelledError())
        self.ended.set()
        with contextlib.suppress(RuntimeError):  # the loop is closed: the gateway is gone, nobody waits
            self._loop.call_soon_threadsafe(self._queue.put_nowait, end)

    def close(self) -> None:
        """Free a reader waiting for room (the call is over)."""
        self._closed = True
        self._room.release()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        item = await self._queue.get()
        if isinstance(item, _End):
            self._queue.put_nowait(item)  # every later call ends too
            if item.error is not None:
                raise item.error
            raise StopAsyncIteration
        self._room.release()
        return item


async def _pump(answers_of: Any, answers: _Answers) -> None:
    """Move a streaming behaviour's answers (an async iterator, or a coroutine that writes) to ``answers``."""
    if hasattr(answers_of, "__aiter__"):
        async for answer in answers_of:
            await answers.put(answer)
    else:
        await answers_of


def _ending(answers: _Answers) -> Callable[[concurrent.futures.Future[None]], None]:
    """The end of ``answers`` once the pump's future is done, also when it was cancelled before it ran."""

    def end(done: concurrent.futures.Future[None]) -> None:
        answers.end(asyncio.CancelledError() if done.cancelled() else done.exception())

    return end


class LoopBridge:
    """Turns the asyncio method handlers into handlers of grpc's thread-pool server, running on ``loop``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, readers: concurrent.futures.Executor) -> None:
        self._loop = loop
        self._readers = readers

    def handler(self, handler: grpc.RpcMethodHandler, *, settle_s: float = 0.0) -> grpc.RpcMethodHandler:
        """``handler`` (asyncio behaviour) as a thread-pool server's handler of the same kind.

        ``settle_s``: a call that streams requests first waits up to this long for the client to finish
        sending (at most ``READ_AHEAD`` messages are taken). For a call refused before reading: a grpc.aio
        client whose request write fails after the status arrived reports INTERNAL instead of the status
        (grpc/grpc#36066).
        """
        serdes = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary, None), **serdes)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary, settle_s), **serdes)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._streaming(handler.unary_stream, None), **serdes)
        return grpc.stream_stream_rpc_method_handler(self._streaming(handler.stream_stream, settle_s), **serdes)

    def _requests(self, request: Any, settle_s: float | None) -> tuple[Any, _Requests | None]:
        """The behaviour's argument, and the request stream to close at the end (``settle_s`` None: unary)."""
        if settle_s is None:
            return request, None
        requests = _Requests(self._loop)
        self._readers.submit(requests.read, request)
        if settle_s:
            requests.ended.wait(settle_s)
        return requests, requests

    def _unary(
        self, behaviour: Callable[..., Any], settle_s: float | None
    ) -> Callable[[Any, grpc.ServicerContext], Any]:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            call = LoopContext(context)
            arg, requests = self._requests(request, settle_s)
            future = asyncio.run_coroutine_threadsafe(behaviour(arg, call), self._loop)
            if not context.add_callback(future.cancel):
                future.cancel()
            try:
                return future.result()
            except grpc.aio.AbortError:
                _abort(context, call)
            except concurrent.futures.CancelledError:
                context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
            finally:
                # The future holds a failure whose traceback holds this frame and its request: a cycle that
                # an idle gateway never collects (ARCHITECTURE.md, "Why").
                del future
                if requests is not None:
                    requests.close()

        return handle

    def _streaming(
        self, behaviour: Callable[..., Any], settle_s: float | None
    ) -> Callable[[Any, grpc.ServicerContext], Iterator[Any]]:
        def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            answers = _Answers(self._loop)
            call = LoopContext(context, answers)
            arg, requests = self._requests(request, settle_s)
            future = asyncio.run_coroutine_threadsafe(_pump(behaviour(arg, call), answers), self._loop)
            future.add_done_callback(_ending(answers))
            if not context.add_callback(future.cancel):
                future.cancel()
            try:
                yield from answers.drain()
            except grpc.aio.AbortError:
                _abort(context, call)
            except asyncio.CancelledError:
                context.abort(grpc.StatusCode.CANCELLED, "the call was cancelled")
            finally:
                # The sender stopped early (the call ended): the task must not outlive it.
                future.cancel()
                del future  # as in ``_unary``: no cycle through the failure
                if requests is not None:
                    requests.close()

        return handle


def _abort(context: grpc.ServicerContext, call: LoopContext) -> None:
    code = call.code() or grpc.StatusCode.UNKNOWN
    context.abort(code, call.details)
