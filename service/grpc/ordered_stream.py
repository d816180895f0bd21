"""``answer_in_order``: the bidirectional-stream rule shared by every gRPC surface (classifier.v1 and V2).

A reader task starts the work of each request as it arrives (at most ``window`` started ahead of the
answer being sent), and answers go out in request order. When the call ends, for whatever reason, every
request still being worked on is cancelled and awaited, so nothing outlives the call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

RequestT = TypeVar("RequestT")
AnswerT = TypeVar("AnswerT")


async def answer_in_order(
    requests: AsyncIterator[RequestT], answer: Callable[[RequestT], Awaitable[AnswerT]], window: int
) -> AsyncIterator[AnswerT]:
    """Yield ``answer(request)`` for each request, in order, working on up to ``window`` at once."""
    pending: asyncio.Queue[asyncio.Task[AnswerT] | None] = asyncio.Queue(window)

    async def read() -> None:
        try:
            async for request in requests:
                await pending.put(asyncio.ensure_future(answer(request)))
        finally:
            await pending.put(None)

    reader = asyncio.create_task(read())
    started: list[asyncio.Task[AnswerT]] = []
    try:
        while (task := await pending.get()) is not None:
            started.append(task)
            yield await task
            started.pop()
        await reader  # re-raises what ended the request stream, if it was an error
    finally:
        reader.cancel()
        while not pending.empty():
            if (queued := pending.get_nowait()) is not None:
                started.append(queued)
        for task in started:
            task.cancel()
        # Wait for the cancelled work to unwind; what it raised was answered or no longer matters.
        await asyncio.gather(reader, *started, return_exceptions=True)
