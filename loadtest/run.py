"""``make loadtest``: start the stack on loopback, run locust headless, check the thresholds, stop the stack.

Topology (``--topology`` / ``LOADTEST_TOPOLOGY``): ``embedded`` (default) runs the gateway with models
in-process; ``tfserving`` starts the local model server and the gateway in TF Serving mode in front of it.
Locust writes ``locust_stats.csv``, ``locust_failures.csv``, ``locust_exceptions.csv``,
``locust_stats_history.csv`` and ``report.html`` into ``--out`` (``results/loadtest``); server logs go to
``--out/logs``. Every option has a ``LOADTEST_*`` environment variable; the locustfile's own options
(models, samples, weights, see ``loadtest/locustfile.py``) travel to locust through the environment.

Exit status: 0 when every threshold holds, 1 when one fails, 2 when the stack or locust could not run.
Everything started here is stopped on the way out, also on failure, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from loadtest.samples import DEFAULT_MODELS
from loadtest.stack import ROOT, ProcessGroup, StackError, interrupts_as_exit, python_env, start_gateway, wait_ready
from loadtest.thresholds import check, load_thresholds, read_stats, summary_table

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
CSV_PREFIX = "locust"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options, each defaulting to its ``LOADTEST_*`` environment variable."""

    def env(name: str, default: str) -> str:
        return os.environ.get(f"LOADTEST_{name}", default)

    parser = argparse.ArgumentParser(prog="python -m loadtest.run", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--topology", choices=("embedded", "tfserving"), default=env("TOPOLOGY", "embedded"))
    parser.add_argument("--users", type=int, default=int(env("USERS", "16")), help="concurrent locust users")
    parser.add_argument("--spawn-rate", type=float, default=float(env("SPAWN_RATE", "8")), help="users started/s")
    parser.add_argument("--run-time", default=env("RUN_TIME", "60s"), help="locust --run-time (60s, 2m)")
    parser.add_argument("--tags", nargs="*", default=env("TAGS", "").split() or None, help="only these tags")
    parser.add_argument("--exclude-tags", nargs="*", default=env("EXCLUDE_TAGS", "").split() or None)
    parser.add_argument("--models-dir", type=Path, default=Path(env("MODELS_DIR", "models")))
    parser.add_argument("--out", type=Path, default=Path(env("OUT", "results/loadtest")))
    parser.add_argument(
        "--thresholds", type=Path, default=Path(env("THRESHOLDS", str(LOCUSTFILE.parent / "thresholds.toml")))
    )
    parser.add_argument("--ready-timeout", type=float, default=float(env("READY_TIMEOUT", "300")), help="seconds")
    parser.add_argument(
        "--gateway-url", default=env("GATEWAY_URL", ""), help="use a running gateway (REST URL) instead of starting one"
    )
    parser.add_argument("--grpc-target", default=env("GRPC_TARGET", ""), help="its gRPC target, with --gateway-url")
    return parser.parse_args(argv)


def models_under_test() -> list[str]:
    """The models the locustfile will call, as its environment variables name them."""
    return [os.environ.get(f"LOADTEST_{m.upper()}_MODEL", default) for m, default in DEFAULT_MODELS.items()]


def run_locust(args: argparse.Namespace, host: str, grpc_target: str) -> int:
    """Run locust headless for ``--run-time``; returns its exit status (non-zero also when it saw failures)."""
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob(f"{CSV_PREFIX}_*.csv"):
        stale.unlink()
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--only-summary",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        args.run_time,
        "--stop-timeout",
        "10",
        "--host",
        host,
        "--grpc-target",
        grpc_target,
        "--csv",
        str(args.out / CSV_PREFIX),
        "--html",
        str(args.out / "report.html"),
        "--loglevel",
        "WARNING",
    ]
    if args.tags:
        argv += ["--tags", *args.tags]
    if args.exclude_tags:
        argv += ["--exclude-tags", *args.exclude_tags]
    print(f"loadtest: locust {args.users} users for {args.run_time} against {host} and {grpc_target}", flush=True)
    # Its own session, so a terminal Ctrl-C reaches only this process, which then stops locust itself.
    locust = subprocess.Popen(argv, cwd=ROOT, env=python_env(), start_new_session=True)
    try:
        return locust.wait(timeout=_seconds(args.run_time) + 120)
    except subprocess.TimeoutExpired:
        print("loadtest: locust overran its run time; stopping it", file=sys.stderr)
        return _stop(locust)
    finally:
        if locust.poll() is None:
            _stop(locust)


def main(argv: list[str] | None = None) -> int:
    """Run the load test; see the module docstring for the exit status."""
    args = parse_args(argv)
    thresholds = load_thresholds(args.thresholds)
    with interrupts_as_exit(), ProcessGroup(args.out / "logs") as group:
        if args.gateway_url:
            host, grpc_target = args.gateway_url, args.grpc_target or "127.0.0.1:50051"
        else:
            print(f"loadtest: starting the {args.topology} stack (models from {args.models_dir})", flush=True)
            gateway = start_gateway(
                group, topology=args.topology, models_dir=args.models_dir, models=models_under_test()
            )
            assert gateway.rest_url is not None and gateway.grpc_target is not None
            try:
                wait_ready(gateway, f"{gateway.rest_url}/readyz", timeout_s=args.ready_timeout)
            except StackError as exc:
                print(f"loadtest: {exc}", file=sys.stderr)
                return 2
            host, grpc_target = gateway.rest_url, gateway.grpc_target
        code = run_locust(args, host, grpc_target)
    stats_path = args.out / f"{CSV_PREFIX}_stats.csv"
    if not stats_path.exists():
        print(f"loadtest: locust exited with {code} and wrote no {stats_path}", file=sys.stderr)
        return 2
    verdicts = check(read_stats(stats_path), thresholds)
    print()
    print(summary_table(verdicts))
    print(f"\nloadtest: CSV files and report.html in {args.out}; server logs in {args.out / 'logs'}")
    failed = [v for v in verdicts if not v.passed]
    if failed:
        print(f"loadtest: FAILED - {len(failed)} of {len(verdicts)} rows passed a threshold", file=sys.stderr)
        return 1
    print("loadtest: every threshold holds")
    return 0


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.terminate()
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _seconds(run_time: str) -> float:
    # locust's forms: "90", "90s", "2m", "1h30m".
    total, number = 0.0, ""
    for char in run_time.strip():
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}[char]
            number = ""
    return total + float(number or 0)


if __name__ == "__main__":
    raise SystemExit(main())
