"""Decoding and preprocessing of a request's inputs, isolated so that a deadline stops it and one model's
heavy inputs cannot starve another model's requests.

Three paths, chosen per input by its size:

- **short texts** (at most ``decoding.inline_text_chars`` characters) are preprocessed on the event loop.
  Tokenising holds the GIL throughout, so a thread runs it no sooner; the hand-off alone cost about as much
  as tokenising a short text, and the cost is linear in the characters (16,384 characters: ~2 ms). A mix
  of paths batches worse: with the demo texts and the bound at 4,096, the 11% that went through threads
  reached the batcher on their own and cut rows per model call from ~15 to ~9.
- **small inputs** (under ``decoding.heavy_input_bytes``) decode in the thread pool, as before: a thread
  hop costs ~0.1 ms where a process round trip costs more than the decode itself. They are not limited
  per model: a small input's cost is bounded by the input budgets, and the admission lanes bound how many
  of one model's requests are in flight, so another model's request waits at most for that bounded
  backlog. A per-model semaphore here was measured to halve REST throughput at 32 clients: it released
  rows to the batcher a few at a time, so batches shrank from ~6 to ~2 rows and CPU per request rose.
- **heavy inputs** decode in a pool of worker processes (pebble ``ProcessPool``, forkserver). When the
  request's deadline passes or it is cancelled, the worker still decoding is killed and replaced: the work
  stops, unlike a thread, which cannot be interrupted (finding 2: 45 s of decoding after a 504). Each model
  holds at most ``decoding.heavy_per_model`` workers at once.

A failing input cancels its request's other inputs (the request has failed; their work is wasted).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import BrokenExecutor as BrokenProcessPool
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from pebble import ProcessExpired, ProcessPool

from features import check_request_budget, preprocess, request_cost
from features.errors import FeatureError, InputTooLarge
from features.limits import InputLimits
from features.spec import AudioFeatures, ImageFeatures, ModelSpec
from service.core.decode_worker import preprocess_in_worker
from service.core.schemas import InputAdapter, RawInput
from service.core.thread_priority import lower_current_thread
from service.errors import DeadlineExceeded, InvalidInput, PayloadTooLarge, Unavailable
from service.settings import Settings

log = logging.getLogger(__name__)


class Decoder:
    """Turns a request's raw inputs into one batch, on threads or killable worker processes."""

    def __init__(self, settings: Settings) -> None:
        self._limits: InputLimits = settings.limits.input_limits()
        self._heavy_bytes = settings.decoding.heavy_input_bytes
        self._inline_chars = settings.decoding.inline_text_chars
        self._inline_pixels = settings.decoding.inline_image_pixels
        self._inline_samples = settings.decoding.inline_audio_samples
        self._processes_n = settings.decoding.processes
        self._heavy_per_model = settings.decoding.heavy_per_model
        self._nice = settings.compute_thread_nice
        self._threads = ThreadPoolExecutor(
            settings.preprocess_threads,
            thread_name_prefix="preprocess",
            initializer=lower_current_thread,
            initargs=(self._nice,),
        )
        self._heavy: dict[str, asyncio.Semaphore] = {}
        self._processes: ProcessPool | None = None  # started at the first heavy input
        #: Heavy decodes stopped (worker killed, or never started) because their request ended first.
        self.stopped = 0

    def close(self) -> None:
        """End the threads and worker processes (after in-flight requests have finished)."""
        self._threads.shutdown(wait=True)
        if self._processes is not None:
            self._processes.stop()  # type: ignore[no-untyped-call]
            self._processes.join(timeout=10)
            self._processes = None

    def is_heavy(self, raw: RawInput) -> bool:
        """Whether ``raw`` goes to a worker process (bytes, or characters of a text)."""
        return len(raw) >= self._heavy_bytes

    async def decode(
        self,
        model: str,
        inputs: list[RawInput],
        spec: ModelSpec,
        deadline_s: float,
        adapt: InputAdapter | None = None,
        *,
        alone: bool = False,
    ) -> np.ndarray:
        """Every input preprocessed with ``spec``, stacked in order; the first failure cancels the rest.

        ``adapt`` (a protocol's input rule, e.g. V2's BYTES elements) is applied to every input first, and a
        request of several inputs has its total cost checked from headers before anything is decoded.
        ``alone``: no other request of the model is in flight, so small images and short audio are decoded on
        the event loop too (short texts always are).
        """
        if adapt is not None or len(inputs) > 1:
            loop = asyncio.get_running_loop()
            inputs = await loop.run_in_executor(self._threads, self._prepare, inputs, spec, adapt)
        if len(inputs) == 1:  # the common case, without the bookkeeping of several tasks
            return np.stack([await self._one(model, 0, inputs[0], spec, deadline_s, alone)])
        jobs = [
            asyncio.ensure_future(self._one(model, i, raw, spec, deadline_s, alone)) for i, raw in enumerate(inputs)
        ]
        try:
            await asyncio.wait(jobs, return_when=asyncio.FIRST_EXCEPTION)
            for job in jobs:
                if job.done() and not job.cancelled() and job.exception() is not None:
                    raise job.exception()  # type: ignore[misc]
            return np.stack([job.result() for job in jobs])
        finally:
            for job in jobs:
                job.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            jobs.clear()  # the tasks hold the raised failure: no cycle through this frame (see ``_in_process``)

    def _prepare(self, inputs: list[RawInput], spec: ModelSpec, adapt: InputAdapter | None) -> list[RawInput]:
        if adapt is not None:
            inputs = [adapt(i, raw, spec.modality) for i, raw in enumerate(inputs)]
        if len(inputs) > 1:  # one input is bounded by the per-input limits, which the budgets hold
            try:
                check_request_budget(inputs, spec, self._limits)
            except InputTooLarge as exc:
                raise PayloadTooLarge(str(exc)) from exc
        return inputs

    async def _one(
        self, model: str, index: int, raw: RawInput, spec: ModelSpec, timeout_s: float, alone: bool
    ) -> np.ndarray:
        try:
            if self.is_heavy(raw):
                async with self._semaphore(self._heavy, model, self._heavy_per_model):
                    return await self._in_process(raw, spec, timeout_s)
            if self._is_cheap(raw, spec, alone):
                return preprocess(raw, spec, self._limits)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._threads, preprocess, raw, spec, self._limits)
        except InputTooLarge as exc:
            raise PayloadTooLarge(f"instance {index}: {exc}") from exc
        except FeatureError as exc:
            raise InvalidInput(f"instance {index}: {exc}") from exc
        except ProcessExpired as exc:
            log.warning("a decode worker died on instance %d of a request for '%s': %s", index, model, exc)
            raise InvalidInput(f"instance {index}: the input could not be decoded") from exc
        except BrokenProcessPool as exc:
            # Workers could not even start: drop the pool so that the next heavy input starts a new one.
            log.error("the decode worker pool is broken: %s", exc)
            self._processes = None
            raise Unavailable("the decoders are restarting; retry later") from exc

    def _is_cheap(self, raw: RawInput, spec: ModelSpec, alone: bool) -> bool:
        """Whether ``raw`` is preprocessed on the event loop: a short text, or, when its request is alone, a
        file whose headers state few pixels or samples. The file's size says nothing of its decoded size (a
        few KB of PNG can hold megapixels), so its headers are read (~20 us for an image, ~40 us for a WAV)
        before it is trusted."""
        if isinstance(raw, str):
            return len(raw) <= self._inline_chars
        if not alone:
            return False
        features = spec.features
        if isinstance(features, ImageFeatures):
            bound = self._inline_pixels
        elif isinstance(features, AudioFeatures):
            bound = self._inline_samples
        else:
            return False
        # Unreadable headers measure 0: such an input is refused in a thread, as before.
        return bound > 0 and 0 < request_cost([raw], features, self._limits) <= bound

    async def _in_process(self, raw: RawInput, spec: ModelSpec, timeout_s: float) -> np.ndarray:
        pool = self._pool()
        # The pool's own timeout kills the worker even if this task is never cancelled; cancelling the
        # asyncio future cancels the pebble future, which kills a worker that is running it.
        future = pool.schedule(preprocess_in_worker, args=(raw, spec, self._limits), timeout=timeout_s)
        try:
            result: np.ndarray = await asyncio.wrap_future(future)
        except FutureTimeout as exc:
            self.stopped += 1
            raise DeadlineExceeded("the request's deadline passed while an input was decoded") from exc
        except asyncio.CancelledError:
            self.stopped += 1
            raise
        finally:
            # ``future`` holds a failure whose traceback holds this frame (and ``raw``): a cycle that an idle
            # gateway never collects (ARCHITECTURE.md, "Why"; ``make memory`` kept ~400 MB that way).
            del future
        return result

    def _pool(self) -> ProcessPool:
        if self._processes is None:
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that has imported the feature package once, not from this
            # process (which may hold TensorFlow's threads, unsafe to fork).
            context.set_forkserver_preload(["service.core.decode_worker"])
            # Workers decode at the compute threads' priority: the event loop's thread goes first.
            self._processes = ProcessPool(
                max_workers=self._processes_n,
                context=context,
                initializer=lower_current_thread,
                initargs=(self._nice,),
            )
        return self._processes

    @staticmethod
    def _semaphore(table: dict[str, asyncio.Semaphore], model: str, size: int) -> asyncio.Semaphore:
        semaphore = table.get(model)
        if semaphore is None:
            semaphore = table[model] = asyncio.Semaphore(size)
        return semaphore
