"""Compute threads run at a lower priority than the event loop's thread (``service.core.thread_priority``):
a pool's initializer lowers each of its threads, and a library's threads are found by their kernel name."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from service.core.thread_priority import lower_current_thread, lower_threads_named

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="per-thread nice values are Linux's")


def _nice(thread_id: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, thread_id)


def test_a_pools_threads_are_lowered_and_the_calling_thread_is_not() -> None:
    own = _nice(threading.get_native_id())
    with ThreadPoolExecutor(2, initializer=lower_current_thread, initargs=(own + 5,)) as pool:
        nice_values = set(pool.map(lambda _: _nice(threading.get_native_id()), range(8)))
    assert nice_values == {own + 5}
    assert _nice(threading.get_native_id()) == own


def test_threads_are_found_by_kernel_name_and_never_raised() -> None:
    own = _nice(threading.get_native_id())
    ready, stop = threading.Event(), threading.Event()
    ids: list[int] = []

    def named(name: bytes) -> None:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_bytes(name)
        ids.append(threading.get_native_id())
        ready.set()
        stop.wait(10)

    thread = threading.Thread(target=named, args=(b"tf_test_worker",))
    thread.start()
    try:
        assert ready.wait(10)
        assert lower_threads_named(("tf_test_",), own + 3) == 1
        assert _nice(ids[0]) == own + 3
        lower_threads_named(("tf_test_",), own + 1)  # a smaller value is not a raise of priority
        assert _nice(ids[0]) == own + 3
        assert lower_threads_named(("tf_test_",), 0) == 0  # 0: off
        assert _nice(threading.get_native_id()) == own
    finally:
        stop.set()
        thread.join()


def test_heavy_decode_worker_processes_run_at_the_same_lower_priority() -> None:
    from service.core.decoding import Decoder
    from service.settings import Settings

    own = _nice(threading.get_native_id())
    decoder = Decoder(Settings(compute_thread_nice=min(own + 7, 19), decoding={"processes": 1}))
    try:
        # The real pool (forkserver, the decode workers' initializer), asked for its worker's nice value.
        future = decoder._pool().schedule(os.getpriority, args=(os.PRIO_PROCESS, 0))
        assert future.result(timeout=120) == min(own + 7, 19)
    finally:
        decoder.close()
