"""Group near-duplicate samples, so that a split can keep each group together and nothing leaks.

Both finders return one group id per sample; samples linked by a chain of close pairs share an id.
``group_close_vectors`` compares small fixed-size arrays (8x8 digit bitmaps) by L1 distance with a
k-d tree. ``group_similar_texts`` compares texts by the Jaccard similarity of their word 5-gram sets,
estimated with MinHash and banded locality-sensitive hashing, then checked exactly for each candidate.
Everything is seeded and uses stable hashes (CRC-32, not Python's salted ``hash``), so the groups are
the same on every run.
"""

from __future__ import annotations

import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

_WORD: Final = re.compile(r"\w+")
_PRIME: Final = (1 << 31) - 1
_SHINGLE_WORDS: Final = 5
_BANDS: Final = 16
_ROWS: Final = 4


def group_close_vectors(vectors: NDArray[np.floating[Any]], max_l1: float) -> NDArray[np.int32]:
    """Group vectors whose L1 distance is at most ``max_l1``."""
    pairs = cKDTree(vectors).query_pairs(r=max_l1, p=1, output_type="ndarray")
    return _components(len(vectors), pairs)


def group_similar_texts(texts: Sequence[str], min_jaccard: float, *, seed: int = 0) -> NDArray[np.int32]:
    """Group texts whose word 5-gram sets have a Jaccard similarity of at least ``min_jaccard``."""
    shingle_sets = [_shingles(text) for text in texts]
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, _BANDS * _ROWS, dtype=np.uint64)[:, None]
    b = rng.integers(0, _PRIME, _BANDS * _ROWS, dtype=np.uint64)[:, None]
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    for index, shingles in enumerate(shingle_sets):
        hashes = np.fromiter(shingles, dtype=np.uint64, count=len(shingles)) % _PRIME
        signature = ((a * hashes[None, :] + b) % _PRIME).min(axis=1)
        for band in range(_BANDS):
            buckets[(band, signature[band * _ROWS : (band + 1) * _ROWS].tobytes())].append(index)

    candidates = {(members[0], other) for members in buckets.values() for other in members[1:]}
    pairs = [
        (i, j)
        for i, j in sorted(candidates)
        if len(shingle_sets[i] & shingle_sets[j]) >= min_jaccard * len(shingle_sets[i] | shingle_sets[j])
    ]
    return _components(len(texts), np.asarray(pairs, dtype=np.int64).reshape(-1, 2))


def _shingles(text: str) -> set[int]:
    words = _WORD.findall(text.lower())
    if len(words) < _SHINGLE_WORDS:
        return {zlib.crc32(" ".join(words).encode())}
    return {
        zlib.crc32(" ".join(words[i : i + _SHINGLE_WORDS]).encode()) for i in range(len(words) - _SHINGLE_WORDS + 1)
    }


def _components(count: int, pairs: NDArray[np.integer[Any]]) -> NDArray[np.int32]:
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(count, count))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int32)
