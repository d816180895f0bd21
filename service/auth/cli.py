"""``python -m service.keys``: add, list, revoke and rotate API keys in a keys file.

``add`` and ``rotate`` print the new key once, as the last line of stdout; only its hash is stored.
A running gateway picks the change up within its poll interval (no restart).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from service.auth import keyfile
from service.auth.keyfile import KeyFileError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m service.keys", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a key; prints it once")
    add.add_argument("--file", type=Path, required=True, help="the keys file (created if missing)")
    add.add_argument("--name", required=True, help="who the key is for; shown in logs")
    add.add_argument("--scope", required=True, help="classify, admin, or both: classify,admin")
    add.add_argument("--rate", type=float, default=None, help="requests per second (default: unlimited)")
    add.add_argument("--burst", type=int, default=None, help="requests at once above the rate (default: rate)")
    listing = commands.add_parser("list", help="names, scopes, limits (never keys)")
    listing.add_argument("--file", type=Path, required=True)
    for name, what in (("revoke", "delete a key"), ("rotate", "replace a key's secret; the old one stops working")):
        command = commands.add_parser(name, help=what)
        command.add_argument("--file", type=Path, required=True)
        command.add_argument("--name", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; exit 0, or 2 with a message on stderr."""
    args = _parser().parse_args(argv)
    path: Path = args.file
    try:
        entries = keyfile.read(path)
        by_name = {e.name: e for e in entries}
        if args.command == "list":
            for e in entries:
                rate = "unlimited" if e.rate is None else f"{e.rate:g}/s burst {e.burst or 'rate'}"
                print(f"{e.name}\t{','.join(sorted(e.scopes))}\t{rate}\tcreated {e.created}")
            return 0
        if args.command == "add":
            if args.name in by_name:
                raise KeyFileError(f"a key named '{args.name}' exists; rotate or revoke it")
            if (args.rate is not None and args.rate <= 0) or (args.burst is not None and args.burst < 1):
                raise KeyFileError("--rate must be > 0 and --burst >= 1")
            key, entry = keyfile.new_key(args.name, keyfile.parse_scopes(args.scope), args.rate, args.burst)
            keyfile.write(path, [*entries, entry])
            print(f"added '{args.name}' to {path}; the key (shown only now):")
            print(key)
            return 0
        old = by_name.get(args.name)
        if old is None:
            raise KeyFileError(f"no key named '{args.name}' in {path}")
        if args.command == "revoke":
            keyfile.write(path, [e for e in entries if e.name != args.name])
            print(f"revoked '{args.name}'")
            return 0
        key, fresh = keyfile.new_key(old.name, old.scopes, old.rate, old.burst)
        keyfile.write(path, [fresh if e.name == args.name else e for e in entries])
        print(f"rotated '{args.name}'; the old key stops working at the gateway's next poll. New key:")
        print(key)
        return 0
    except (KeyFileError, OSError) as exc:
        print(f"service.keys: {exc}", file=sys.stderr)
        return 2
