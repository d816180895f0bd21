"""Which version an unpinned request gets under a rollout: the weighted draw and the sticky routing key.

Without a key, a request goes to the candidate with probability ``canary_weight`` (a seeded generator
when ``settings.rollout.seed`` is set, so a test's split is reproducible). With a key, the draw is a hash
of the key and the weight: the same key gets the same version for as long as the weight is unchanged,
in every process and replica, with no table of keys to keep.
"""

from __future__ import annotations

import hashlib
import random

from service.rollout.policy import ModelRollout

_SCALE = float(1 << 64)


def key_point(key: str, weight: float) -> float:
    """A point in [0, 1) that depends only on ``key`` and ``weight``."""
    digest = hashlib.blake2b(f"{weight!r}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class Router:
    """Draws canary and shadow decisions; one per process."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)

    def to_candidate(self, policy: ModelRollout, routing_key: str | None) -> bool:
        """Whether this unpinned request goes to the candidate."""
        weight = policy.canary_weight
        if policy.candidate is None or weight <= 0.0:
            return False
        if weight >= 1.0:
            return True
        point = key_point(routing_key, weight) if routing_key is not None else self._random.random()
        return point < weight

    def shadowed(self, policy: ModelRollout) -> bool:
        """Whether a request served by stable is also run on the candidate."""
        rate = policy.shadow_rate
        return policy.candidate is not None and rate > 0.0 and (rate >= 1.0 or self._random.random() < rate)
