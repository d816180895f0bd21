"""Command line: ``python -m training.datasets --out data [--only digits,spam] [--force]``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from training.datasets import DEMO_DATASETS, SPLITS, DatasetError, build_demo_datasets, read_manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Build the demo datasets and print what each holds; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m training.datasets", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("data"), help="output folder (default: data)")
    parser.add_argument("--only", default="", help=f"comma-separated datasets to build, of: {', '.join(DEMO_DATASETS)}")
    parser.add_argument("--force", action="store_true", help="rebuild datasets that already exist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    names = [name.strip() for name in args.only.split(",") if name.strip()] or None
    try:
        built = build_demo_datasets(args.out, names, force=args.force)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, root in built.items():
        manifest = read_manifest(root)
        sizes = ", ".join(f"{split} {manifest.split_size(split)}" for split in SPLITS)
        print(f"{name} ({manifest.modality}, {len(manifest.labels)} labels): {sizes}; {manifest.total} in {root}")
        for split in SPLITS:
            per_label = " ".join(f"{label}={count}" for label, count in manifest.counts[split].items())
            print(f"  {split:5} {per_label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
