"""The embedded runtime: model versions loaded into this process, kept in step with the repository.

Life cycle of a version (TF Serving's states)::

    folder appears, policy wants it -> LOADING --ok--> AVAILABLE --superseded or removed--> UNLOADING -> END
                                            \\--fails--> END with error (retried only if the folder changes)

Swaps preserve availability: a version that the policy no longer wants keeps serving until a wanted
version of its model is AVAILABLE (or its folder is gone). An UNLOADING version still answers the
requests pinned to it for a grace period of ``request_timeout_s`` (a request resolved to it just
before the swap may still be preprocessing), then refuses new ones, finishes what it queued, and is
dropped. All state lives on the event loop; loading runs in a loader thread, model calls in the
inference pool, scanning in the default executor. ``model_status`` and ``list_models`` return
snapshots rebuilt on every change, so they cost a dict lookup; each change is published to
``changes()`` subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from features.spec import ModelSpec
from service.backends.base import ModelBackend, ModelStatus, VersionState, VersionStatus
from service.backends.embedded.batcher import Batcher
from service.backends.embedded.inputs import check_inputs
from service.backends.embedded.loaded_version import LoadedVersion, VersionLoadError, load_version
from service.backends.embedded.repository import RepositoryScan, VersionFolder, scan_repository, wanted_versions
from service.backends.embedded.tf_runtime import configure_tensorflow
from service.core.thread_priority import lower_current_thread, lower_threads_named
from service.errors import ModelNotFound, ModelNotReady, VersionNotFound
from service.metrics import Metrics
from service.settings import Settings

log = logging.getLogger(__name__)

#: Versions loading at once; loading is mostly file reading and graph set-up.
LOADER_THREADS = 2
#: Kernel names of the threads TensorFlow starts (its inter-op pool, graph runners), lowered in priority
#: like the pools here (``service.core.thread_priority``).
TENSORFLOW_THREADS = ("tf_",)


@dataclass(eq=False)
class _Version:
    """What the runtime holds for one version folder."""

    folder: VersionFolder
    state: VersionState = VersionState.LOADING
    error: str | None = None
    loaded: LoadedVersion | None = None
    batcher: Batcher | None = None
    retiring: asyncio.Task[None] | None = None
    draining: bool = False

    @property
    def number(self) -> int:
        return self.folder.version

    def serves_pinned(self) -> bool:
        """Whether a request pinned to this version is accepted now."""
        if self.batcher is None or not self.batcher.accepting:
            return False
        return self.state is VersionState.AVAILABLE or (self.state is VersionState.UNLOADING and not self.draining)


class EmbeddedBackend(ModelBackend):
    """Serves SavedModel versions from ``settings.models_dir`` in this process, with dynamic batching."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._metrics = metrics
        self._models: dict[str, dict[int, _Version]] = {}
        self._statuses: dict[str, ModelStatus] = {}
        self._scan: RepositoryScan = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._inference_pool: ThreadPoolExecutor | None = None
        self._loader_pool: ThreadPoolExecutor | None = None

    # -- life cycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Configure TensorFlow, scan the repository and start loading; returns before models are loaded."""
        if self._poller is not None:
            return
        await asyncio.to_thread(configure_tensorflow, self._settings.inference_threads)  # logs the device
        nice = (self._settings.compute_thread_nice,)
        self._inference_pool = ThreadPoolExecutor(
            self._settings.inference_threads,
            thread_name_prefix="inference",
            initializer=lower_current_thread,
            initargs=nice,
        )
        self._loader_pool = ThreadPoolExecutor(
            LOADER_THREADS, thread_name_prefix="model-loader", initializer=lower_current_thread, initargs=nice
        )
        if not self._settings.models_dir.is_dir():
            log.warning("model repository %s does not exist (yet)", self._settings.models_dir)
        await self._refresh()
        self._poller = asyncio.create_task(self._poll(), name="model repository poller")

    async def close(self) -> None:
        """Stop polling, finish loads, answer every accepted request, then release the threads."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        # Loads finish (their threads cannot be interrupted) and retirements skip their grace period.
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        batchers = [v.batcher for versions in self._models.values() for v in versions.values() if v.batcher]
        await asyncio.gather(*(batcher.close() for batcher in batchers))
        for name, versions in self._models.items():
            for entry in versions.values():
                entry.state, entry.batcher, entry.loaded = VersionState.END, None, None
            self._publish(name)
        for pool in (self._inference_pool, self._loader_pool):
            if pool is not None:
                pool.shutdown(wait=False)  # every call it ran has been answered above

    # -- queries ------------------------------------------------------------------------------------

    async def list_models(self) -> list[ModelStatus]:
        """Every model in the repository (as restricted by ``settings.models``), by name."""
        return [self._statuses[name] for name in sorted(self._statuses)]

    async def model_status(self, name: str) -> ModelStatus:
        """One model's versions, newest first; raises ModelNotFound."""
        try:
            return self._statuses[name]
        except KeyError:
            raise ModelNotFound(f"no model named '{name}'", known=sorted(self._statuses)) from None

    async def get_spec(self, name: str, version: int) -> ModelSpec:
        """The spec ``version`` was exported with; raises NotFound or ModelNotReady."""
        entry = self._entry(name, version)
        if entry.loaded is None:
            raise _not_ready(name, entry)
        return entry.loaded.spec

    async def predict(
        self, name: str, version: int, inputs: np.ndarray, *, timeout: float | None, alone: bool = False
    ) -> np.ndarray:
        """Probabilities from exactly ``version``, computed in a dynamic batch (or at once, when ``alone``)."""
        entry = self._entry(name, version)
        if entry.loaded is None or entry.batcher is None or not entry.serves_pinned():
            raise _not_ready(name, entry)
        rows = check_inputs(inputs, entry.loaded.spec)
        return await entry.batcher.submit(rows, timeout, alone=alone)

    def _entry(self, name: str, version: int) -> _Version:
        versions = self._models.get(name)
        if versions is None or name not in self._statuses:
            raise ModelNotFound(f"no model named '{name}'", known=sorted(self._statuses))
        entry = versions.get(version)
        if entry is None:
            raise VersionNotFound(f"model '{name}' has no served version {version}", served=sorted(versions))
        return entry

    # -- keeping in step with the repository --------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.poll_interval_s)
            try:
                await self._refresh()
            except Exception:  # a failing scan must not stop the poller; the next one may succeed
                log.exception("scanning the model repository %s failed", self._settings.models_dir)

    async def _refresh(self) -> None:
        scan = await asyncio.to_thread(scan_repository, self._settings.models_dir, self._settings.models)
        self._scan = scan
        self._reconcile()

    def _reconcile(self) -> None:
        """Start loads and retirements so that the served versions match the last scan and the policy."""
        if self._closing.is_set():
            return
        for name in sorted(set(self._scan) | set(self._models)):
            folders = self._scan.get(name, {})
            versions = self._models.setdefault(name, {})
            wanted = wanted_versions(name, folders, self._settings)
            for number in sorted(wanted):
                self._want(name, versions, folders[number])
            any_wanted_available = any(versions[n].state is VersionState.AVAILABLE for n in wanted if n in versions)
            for number, entry in list(versions.items()):
                if number in wanted:
                    continue
                if entry.state is VersionState.AVAILABLE and (any_wanted_available or number not in folders):
                    self._retire(name, entry)
                elif entry.state is VersionState.END:
                    del versions[number]  # a failed version nobody wants any more
            if not versions and name not in self._scan:
                del self._models[name]
                if self._statuses.pop(name, None) is not None:
                    self.publish_change()
            else:
                self._publish(name)

    def _want(self, name: str, versions: dict[int, _Version], folder: VersionFolder) -> None:
        entry = versions.get(folder.version)
        if entry is None or (entry.state is VersionState.END and entry.folder.fingerprint != folder.fingerprint):
            entry = versions[folder.version] = _Version(folder)
            self._spawn(self._load(name, entry))
            log.info("loading %s version %d from %s", name, folder.version, folder.path)
        elif entry.state is VersionState.UNLOADING and not entry.draining and entry.retiring is not None:
            # Wanted again (the newer version vanished) while still in its grace period: keep it.
            entry.retiring.cancel()
            entry.retiring, entry.state = None, VersionState.AVAILABLE
            log.info("%s version %d is wanted again; it stays AVAILABLE", name, folder.version)

    async def _load(self, name: str, entry: _Version) -> None:
        loop = asyncio.get_running_loop()
        load = functools.partial(
            load_version,
            name,
            entry.number,
            entry.folder.path,
            max_batch_size=self._settings.batching.max_batch_size,
        )
        try:
            loaded = await loop.run_in_executor(self._loader_pool, load)
        except VersionLoadError as exc:
            entry.state, entry.error = VersionState.END, str(exc)
            log.warning("%s version %d cannot be served: %s", name, entry.number, exc)
        except Exception as exc:
            entry.state, entry.error = VersionState.END, f"loading failed: {type(exc).__name__}: {exc}"
            log.exception("loading %s version %d failed", name, entry.number)
        else:
            if self._closing.is_set():
                entry.state = VersionState.END
            else:
                entry.loaded, entry.batcher = loaded, self._batcher(name, entry.number, loaded)
                entry.batcher.start()
                entry.state = VersionState.AVAILABLE
                log.info("%s version %d is AVAILABLE", name, entry.number)
                # TensorFlow starts its own threads with the first model (its load warms it up).
                lower_threads_named(TENSORFLOW_THREADS, self._settings.compute_thread_nice)
        self._reconcile()  # retire what this version supersedes now, not at the next poll

    def _batcher(self, name: str, version: int, loaded: LoadedVersion) -> Batcher:
        assert self._inference_pool is not None
        return Batcher(
            loaded.call,
            settings=self._settings.batching,
            executor=self._inference_pool,
            slots=self._settings.inference_threads,
            on_batch=lambda rows: self._metrics.observe_batch(name, version, rows),
            label=f"model '{name}' version {version}",
        )

    def _retire(self, name: str, entry: _Version) -> None:
        entry.state = VersionState.UNLOADING
        entry.retiring = self._spawn(self._unload(name, entry))
        log.info("%s version %d is UNLOADING", name, entry.number)

    async def _unload(self, name: str, entry: _Version) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self._settings.request_timeout_s)
        entry.draining = True
        if entry.batcher is not None:
            await entry.batcher.close()
        entry.state, entry.batcher, entry.loaded, entry.retiring = VersionState.END, None, None, None
        versions = self._models.get(name, {})
        if versions.get(entry.number) is entry:
            del versions[entry.number]
        log.info("%s version %d is unloaded", name, entry.number)
        self._reconcile()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _publish(self, name: str) -> None:
        versions = self._models.get(name, {})
        status = ModelStatus(
            name,
            tuple(
                VersionStatus(number, entry.state, entry.error)
                for number, entry in sorted(versions.items(), reverse=True)
            ),
        )
        if self._statuses.get(name) != status:
            self._statuses[name] = status
            self.publish_change()


def _not_ready(name: str, entry: _Version) -> ModelNotReady:
    detail = f"version {entry.number} of model '{name}' is {entry.state.value}"
    if entry.state is VersionState.UNLOADING:
        detail += " and takes no new requests"
    if entry.error:
        detail += f": {entry.error}"
    return ModelNotReady(detail)
