"""Micro benchmark: per-call latency of the ways to call a loaded SavedModel signature from Python.

    python -m service.backends.embedded.bench models/NAME/VERSION [--batch-sizes 1,8,32] [--calls 300]

Compared, on the same version and inputs, in interleaved rounds (the median of the rounds is
printed with the best round, so a busy machine skews every path alike):

- ``naive``: ``signatures['serving_default'](name=numpy_array)``, what a first implementation does;
- ``public``: the same with a ``tf.constant`` made once per batch;
- ``tf.function``: a ``tf.function`` wrapper around the signature (one more trace/dispatch layer);
- ``fast``: ``SignatureCall``'s path through the eager context, as the runtime uses it.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, load the version, print a latency table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version_dir", type=Path, help="a version folder, models/NAME/VERSION")
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated rows per call")
    parser.add_argument("--calls", type=int, default=100, help="calls per path in a round")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per batch size")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE
    from service.backends.embedded.loaded_version import load_version

    loaded = load_version(args.version_dir.parent.name, int(args.version_dir.name), args.version_dir, max_batch_size=1)
    function = loaded.saved_model.signatures[SERVING_SIGNATURE]
    features = loaded.spec.features
    name = features.input_name
    wrapped = tf.function(lambda x: function(**{name: x})[PROBABILITIES_OUTPUT])

    print(f"{loaded.name} version {loaded.version}: input {features.input_dtype} {list(features.input_shape)}")
    print(f"device: {'GPU' if tf.config.list_physical_devices('GPU') else 'CPU'}, call path in use: {loaded.call.path}")
    print(f"{'':>18} {'median':>10} {'best':>10} {'best':>9} {'median':>9} {'best':>9}")
    print(f"{'rows':>5} {'path':<12} {'us/call':>10} {'us/call':>10} {'us/row':>9} {'vs naive':>9} {'vs naive':>9}")
    for rows in (int(size) for size in args.batch_sizes.split(",")):
        batch = np.zeros((rows, *features.input_shape), features.input_dtype)
        paths: dict[str, Callable[[], object]] = {
            "naive": functools.partial(_naive, function, name, batch),
            "public": functools.partial(loaded.call.public, batch),
            "tf.function": functools.partial(_wrapped, wrapped, batch),
            "fast": functools.partial(loaded.call.fast, batch),
        }
        timings = _interleaved(paths, calls=args.calls, rounds=args.rounds)
        naive_median, naive_best = timings["naive"]
        for path, (median, best) in timings.items():
            print(
                f"{rows:>5} {path:<12} {median * 1e6:>10.1f} {best * 1e6:>10.1f} {best * 1e6 / rows:>9.1f}"
                f" {naive_median / median:>8.2f}x {naive_best / best:>8.2f}x"
            )


def _naive(function: Any, name: str, batch: np.ndarray) -> object:
    from features.contract import PROBABILITIES_OUTPUT

    return function(**{name: batch})[PROBABILITIES_OUTPUT].numpy()


def _wrapped(wrapped: Any, batch: np.ndarray) -> object:
    import tensorflow as tf

    return wrapped(tf.constant(batch)).numpy()


def _interleaved(paths: dict[str, Callable[[], object]], *, calls: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Median and best seconds per call of each path over rounds measured round-robin."""
    for call in paths.values():
        for _ in range(20):
            call()
    samples: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(rounds):
        for path, call in paths.items():
            started = time.perf_counter()
            for _ in range(calls):
                call()
            samples[path].append((time.perf_counter() - started) / calls)
    return {path: (statistics.median(values), min(values)) for path, values in samples.items()}


if __name__ == "__main__":
    main()
