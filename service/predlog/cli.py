"""Command line of ``python -m service.predlog``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from service.predlog.export import export
from service.settings import Settings


def _time(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (built when called, not at import)."""
    parser = argparse.ArgumentParser(prog="python -m service.predlog", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export_cmd = commands.add_parser(
        "export", help="write logged raw inputs to OUT/MODEL/LABEL/ by predicted label, for review"
    )
    export_cmd.add_argument("--since", type=_time, help="first time included (ISO 8601; UTC unless it says)")
    export_cmd.add_argument("--until", type=_time, help="first time excluded (ISO 8601; UTC unless it says)")
    export_cmd.add_argument("--out", type=Path, required=True, help="output folder")
    export_cmd.add_argument("--model", help="only this model")
    export_cmd.add_argument("--log", type=Path, help="the prediction log (default: CLASSIFIER_PREDICTION_LOG__PATH)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a command; exit status 0 on success, 2 on bad usage."""
    args = build_parser().parse_args(argv)
    log_path: Path | None = args.log or Settings().prediction_log.path
    if log_path is None:
        print("predlog: no log: pass --log or set CLASSIFIER_PREDICTION_LOG__PATH", file=sys.stderr)
        return 2
    report = export(log_path, args.out, since=args.since, until=args.until, model=args.model)
    for key, count in sorted(report.per_label.items()):
        print(f"{key}: {count}")
    print(
        f"exported {report.exported}, duplicates {report.duplicates}, without raw input {report.without_raw},"
        f" outside the window {report.outside_window}, unreadable {report.unreadable}"
    )
    return 0
