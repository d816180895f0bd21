"""``python -m service.rollout status|start|promote|rollback NAME``: rollout control over the REST endpoints.

Talks to a running gateway (``--url``, default ``http://127.0.0.1:8000``; ``--api-key`` or
``CLASSIFIER_API_KEY`` for an admin key). Prints the report as JSON, or a problem's title and detail on
stderr with exit code 1 (2 when the gateway cannot be reached).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"


def build_parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    parser = argparse.ArgumentParser(prog="python -m service.rollout", description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the gateway's REST address (default {DEFAULT_URL})")
    parser.add_argument("--api-key", default=None, help="an admin API key (default: $CLASSIFIER_API_KEY)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("status", "show the policy and the comparison"),
        ("promote", "make the candidate the stable version"),
        ("rollback", "drop the candidate"),
    ):
        commands.add_parser(name, help=text).add_argument("model")
    start = commands.add_parser("start", help="start rolling a candidate version out")
    start.add_argument("model")
    start.add_argument("--candidate", type=int, required=True, help="the version to roll out")
    start.add_argument("--canary-weight", type=float, default=0.0, help="share of unpinned requests (0-1)")
    start.add_argument("--shadow-rate", type=float, default=0.0, help="share of stable's requests shadowed (0-1)")
    start.add_argument("--auto", default=None, help="automatic rule as JSON, e.g. '{\"min_compared\": 1000}'")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit code."""
    args = build_parser().parse_args(argv)
    key = args.api_key or os.environ.get("CLASSIFIER_API_KEY")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    path = f"/v1/models/{args.model}/rollout"
    body = None
    if args.command == "start":
        body = {"candidate": args.candidate, "canary_weight": args.canary_weight, "shadow_rate": args.shadow_rate}
        if args.auto is not None:
            try:
                body["auto"] = json.loads(args.auto)
            except json.JSONDecodeError as exc:
                print(f"--auto is not JSON: {exc}", file=sys.stderr)
                return 1
    try:
        with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as client:
            if args.command == "status":
                response = client.get(path)
            else:
                response = client.post(f"{path}:{args.command}", json=body)
    except httpx.HTTPError as exc:
        print(f"cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code != 200:
        try:
            problem = response.json()
            print(f"{response.status_code} {problem.get('title')}: {problem.get('detail')}", file=sys.stderr)
        except ValueError:
            print(f"{response.status_code}: {response.text[:200]}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0
