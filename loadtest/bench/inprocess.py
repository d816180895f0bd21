"""The in-process floor: preprocessing + one signature call per input, no server, for the same samples.

``gateway median - this median`` at one client is the latency the gateway adds (transport, parsing,
scheduling, batching window, answer encoding). Measured two ways: with the call path the embedded
backend uses (``SignatureCall`` after ``verify``, its fast path where TF allows) and the public one
(``signature(**{input: tensor})``). Runs as its own process, pinned like the servers, and prints JSON.

``python -m loadtest.bench.inprocess --job text=models/spam/1=data/spam/test [--job ...]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from features import preprocess
from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE, read_spec
from loadtest.samples import Modality, load_samples
from service.backends.embedded.signature_call import SignatureCall


def measure(version_dir: Path, samples_dir: Path, modality: Modality, *, calls: int, limit: int) -> dict[str, float]:
    """Median and p99 (ms) of preprocess + call over ``calls`` single-input calls, cycling the samples."""
    spec = read_spec(version_dir)
    function = tf.saved_model.load(str(version_dir)).signatures[SERVING_SIGNATURE]
    call = SignatureCall(function, spec.features.input_name, PROBABILITIES_OUTPUT)
    samples = [s.content for s in load_samples(samples_dir, modality, limit=limit)]
    path = call.verify(np.stack([preprocess(samples[0], spec)]))
    result: dict[str, float] = {}
    for label, run in (("gateway_path", call), ("public_path", call.public)):
        for raw in samples[:20]:  # warm-up
            run(np.stack([preprocess(raw, spec)]))
        timings = []
        preprocess_timings = []
        for i in range(calls):
            raw = samples[i % len(samples)]
            t0 = time.perf_counter()
            batch = np.stack([preprocess(raw, spec)])
            t1 = time.perf_counter()
            run(batch)
            t2 = time.perf_counter()
            timings.append((t2 - t0) * 1000)
            preprocess_timings.append((t1 - t0) * 1000)
        timings.sort()
        result[f"{label}_median_ms"] = statistics.median(timings)
        result[f"{label}_p99_ms"] = timings[min(len(timings) - 1, int(0.99 * len(timings)))]
        result["preprocess_median_ms"] = statistics.median(preprocess_timings)
    result["fast_path_used"] = float(path == "fast")
    return result


def main(argv: list[str] | None = None) -> int:
    """Print one JSON object: modality -> figures."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.inprocess")
    parser.add_argument("--job", action="append", required=True, help="MODALITY=VERSION_DIR=SAMPLES_DIR (repeatable)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--limit", type=int, default=64)
    args = parser.parse_args(argv)
    results = {}
    for job in args.job:
        modality, version_dir, samples_dir = job.split("=", 2)
        if modality not in ("image", "text", "audio"):
            parser.error(f"unknown modality in --job {job!r}")
        results[modality] = measure(Path(version_dir), Path(samples_dir), modality, calls=args.calls, limit=args.limit)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
