"""Scheduling priority of the gateway's compute threads: the event loop's thread runs first.

One event loop reads every request, refuses what admission refuses and writes every answer; preprocessing
threads, model calls (TensorFlow's threads) and version loads do the heavy work beside it. On a busy core
the kernel shares time evenly between runnable threads, so with four preprocessing threads busy the
loop's thread got about a fifth of the core and its turns stretched: under a 5x overload refusals, which
are promised within 50 ms, waited tens of milliseconds for the loop (RELIABILITY.md). Lowering the
compute threads' priority (a higher nice value, ``settings.compute_thread_nice``; the heavy-decode
worker processes get it too) gives the loop's thread the core whenever it has work, and the compute
threads everything it leaves: under overload the cheap work (refusals, reading, answering) goes first.

Linux sets nice values per thread (``setpriority(PRIO_PROCESS, thread id)``); lowering needs no
privilege. Elsewhere, or where it is refused, priorities stay as they are and this says so once in the log.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_TASKS = Path("/proc/self/task")
_warned = False


def _renice(thread_id: int, nice: int) -> bool:
    """Raise one thread's nice value to ``nice`` (never lower it); False where it cannot be done."""
    global _warned
    try:
        if os.getpriority(os.PRIO_PROCESS, thread_id) < nice:
            os.setpriority(os.PRIO_PROCESS, thread_id, nice)
    except (OSError, AttributeError) as exc:
        if not _warned:
            _warned = True
            log.info("compute threads keep their scheduling priority (%s)", exc)
        return False
    return True


def lower_current_thread(nice: int) -> None:
    """Give the calling thread nice value ``nice`` (a thread pool's ``initializer``); 0 leaves it as it is."""
    if nice > 0:
        _renice(threading.get_native_id(), nice)


def lower_threads_named(prefixes: tuple[str, ...], nice: int) -> int:
    """Give every thread of this process whose kernel name starts with one of ``prefixes`` (threads that a
    library starts, e.g. TensorFlow's ``tf_*``) nice value ``nice``; returns how many were found."""
    if nice <= 0 or not _TASKS.is_dir():
        return 0
    found = 0
    for task in _TASKS.iterdir():
        try:
            name = (task / "comm").read_text().strip()
        except OSError:
            continue  # the thread ended meanwhile
        if name.startswith(prefixes):
            found += 1
            _renice(int(task.name), nice)
    return found
