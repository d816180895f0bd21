"""``nothing_else_ready()``: whether the running event loop has no other callback waiting to run.

Short work done on the event loop (decoding a small input, a short model call) saves a thread hand-off but
overlaps with nothing: while it runs, the loop cannot start other requests, whose rows would have joined
the next batch while a thread ran the model. It pays only when nothing else is waiting. A request's own
model lane cannot tell: the requests of one gRPC stream message, or the REST requests parsed in the same
loop turn, are tasks that have not reached the lane yet. They are in the loop's ready queue, though.

asyncio's loops keep that queue in ``_ready``, a private attribute; a loop without it (uvloop) is
answered False, so the work goes to threads there as before.
"""

from __future__ import annotations

import asyncio
from collections import deque


def nothing_else_ready() -> bool:
    """True when the running loop is asyncio's and no other callback or task step is ready to run."""
    ready = getattr(asyncio.get_running_loop(), "_ready", None)
    return isinstance(ready, deque) and not ready
