"""Profile a server of the bench under load with py-spy: where its CPU goes, per modality.

Starts one system as the bench does (pinned to the server core), drives it with the bench's generator
at a fixed concurrency, and meanwhile records the server process with ``py-spy record`` (Python frames,
idle threads left out). Writes the collapsed stacks per modality under ``results/bench/profiles/``
(``py-spy``'s raw format, which flame-graph tools read) and prints the functions with the most samples,
by own time and by inclusive time.

``python -m loadtest.bench.profile --system gateway-rest --modality image --concurrency 8 --seconds 10``
(``py-spy`` comes with the ``loadtest`` extra; it needs ptrace rights over the server, as root or with
``kernel.yama.ptrace_scope=0``.)
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from loadtest.bench.runner import ALL_SYSTEMS, Bench, BenchConfig
from loadtest.samples import FORMS, MODALITIES, Modality


def summarize(collapsed: Path, top: int) -> str:
    """Own and inclusive sample counts per function from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "own time:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("inclusive time:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    # py-spy frames read "function (path/to/module.py:line)"; keep the function and the file's tail.
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    tail = "/".join(parts[-2:]) if parts else path
    return f"{name} ({tail})"


def main(argv: list[str] | None = None) -> int:
    """Profile one system for each modality asked."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.profile")
    parser.add_argument("--system", choices=ALL_SYSTEMS, required=True)
    parser.add_argument("--modality", choices=MODALITIES, action="append", help="repeatable; default: all")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--form", choices=FORMS, default="json", help="REST body form")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--all-threads", action="store_true", help="sample every thread, not only the one holding the GIL"
    )
    parser.add_argument("--out", type=Path, default=Path("results/bench/profiles"))
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    modalities: list[Modality] = args.modality or list(MODALITIES)

    config = BenchConfig.from_env()
    config.modalities = tuple(modalities)
    config.out_dir = args.out
    bench = Bench(config)
    args.out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        served_by_rest = ("gateway-grpc", "gateway-stream", "gateway-v2-rest", "gateway-v2-grpc")
        deployment = bench.start("gateway-rest" if args.system in served_by_rest else args.system, stack)
        bench.wait(deployment)
        target_pid = deployment.server.pid  # the process the load reaches (the gateway in TF Serving mode)
        for modality in modalities:
            # First calls pay one-time costs (FastAPI inspects an endpoint's source on its first request).
            bench.run_cell(args.system, deployment, modality, 1, 0.0, 0.5, args.form)
            form = "" if "grpc" in args.system or "stream" in args.system else f"-{args.form}"
            stem = args.out / f"{args.system}-{modality}{form}-c{args.concurrency}"
            record = [py_spy, "record", "-p", str(target_pid), "-r", str(args.rate), "-d", str(int(args.seconds))]
            if not args.all_threads:
                record.append("--gil")  # Python's own work: the GIL holder (TF kernels run without it)
            raw = subprocess.Popen([*record, "--format", "raw", "-o", f"{stem}.txt"], stdout=subprocess.DEVNULL)
            cell = bench.run_cell(args.system, deployment, modality, args.concurrency, args.seconds, 0.5, args.form)
            raw.wait(timeout=args.seconds + 60)
            print(f"\n== {stem.name}: ", end="")
            print(f"{cell.rps:.1f} req/s, p50 {cell.percentile(50):.2f} ms, server cpu {cell.server_cpu:.2f}")
            print(summarize(Path(f"{stem}.txt"), args.top))
            print(f"(collapsed stacks: {stem}.txt)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
