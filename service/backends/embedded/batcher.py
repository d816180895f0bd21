"""The embedded runtime's batcher: the shared batching core (``service.backends.batching``) whose model
call runs the version's signature function in the inference thread pool, so the event loop never blocks
on a batch; a request alone may run it inline when the version's calls are short (``inline_call_ms``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from service.backends.batching import BatchQueue
from service.settings import BatchingSettings

#: The model function: rows in, rows out (blocking; runs in a thread).
BatchFunction = Callable[[np.ndarray], np.ndarray]


class Batcher(BatchQueue):
    """Coalesces concurrent predictions for one loaded version into batched calls run in ``executor``."""

    def __init__(
        self,
        run: BatchFunction,
        *,
        settings: BatchingSettings,
        executor: Executor,
        slots: int,
        on_batch: Callable[[int], None] | None = None,
        label: str = "model",
    ) -> None:
        async def in_thread(parts: list[np.ndarray], timeout: float | None) -> np.ndarray:
            # The deadline is enforced by the queue's timers; a running model call cannot be interrupted.
            del timeout
            return await asyncio.get_running_loop().run_in_executor(executor, _run_concatenated, run, parts)

        super().__init__(in_thread, settings=settings, slots=slots, on_batch=on_batch, label=label, inline_call=run)


def _run_concatenated(run: BatchFunction, parts: list[np.ndarray]) -> np.ndarray:
    # Concatenation (a copy of every row) happens in the thread too, off the event loop.
    return run(parts[0] if len(parts) == 1 else np.concatenate(parts))
