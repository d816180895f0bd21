"""Command line: ``python -m training {train,demo,data}``.

train   train one model from a class-per-folder dataset and export the next version
demo    build the demo datasets if missing, then train and export the demo models
data    build the demo datasets only
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from features.spec import Modality
from training.feature_specs import FeatureOptions

MODALITIES: dict[str, Modality] = {"image": "image", "text": "text", "speech": "audio"}
_DEFAULTS = FeatureOptions()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one model and export it as the next version")
    train.add_argument("--modality", required=True, choices=sorted(MODALITIES))
    train.add_argument("--data", required=True, type=Path, help="class-per-folder dataset")
    train.add_argument("--name", required=True, help="model name: models/NAME/VERSION")
    train.add_argument("--models-dir", type=Path, default=Path("models"))
    train.add_argument("--epochs", type=int, default=15, help="upper bound; early stopping on val")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--seed", type=int, default=0)
    image = train.add_argument_group("image")
    image.add_argument("--image-size", type=_size, default=(_DEFAULTS.image_height, _DEFAULTS.image_width),
                       metavar="HxW", help="model input size, e.g. 28x28 (default 64x64)")  # fmt: skip
    image.add_argument("--color-mode", choices=["rgb", "grayscale"], default=_DEFAULTS.color_mode)
    image.add_argument("--polarity", choices=["as_is", "light_on_dark"], default=_DEFAULTS.polarity)
    text = train.add_argument_group("text")
    text.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens, help="vocabulary size")
    text.add_argument("--sequence-length", type=int, default=_DEFAULTS.sequence_length)
    audio = train.add_argument_group("speech")
    audio.add_argument("--align", choices=["start", "loudest"], default=_DEFAULTS.audio_align)

    demo = commands.add_parser("demo", help="build the demo datasets and train the demo models")
    demo.add_argument("--data", type=Path, default=Path("data"))
    demo.add_argument("--models-dir", type=Path, default=Path("models"))
    demo.add_argument("--force", action="store_true", help="train even where a version exists")

    data = commands.add_parser("data", help="build the demo datasets")
    data.add_argument("--out", type=Path, default=Path("data"))
    data.add_argument("--force", action="store_true", help="rebuild datasets that exist")
    return parser


def _size(text: str) -> tuple[int, int]:
    try:
        height, width = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxW such as 28x28, got {text!r}") from None
    return height, width


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    if args.command == "train":
        return _train(args)
    if args.command == "demo":
        from training.demo import run_demo

        run_demo(args.data, args.models_dir, force=args.force)
        return 0
    from training.datasets import build_demo_datasets

    for name, path in build_demo_datasets(args.out, force=args.force).items():
        print(f"{name}: {path}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from training.pipeline import TrainingJob, train_and_export

    height, width = args.image_size
    options = FeatureOptions(
        image_height=height,
        image_width=width,
        color_mode=args.color_mode,
        polarity=args.polarity,
        max_tokens=args.max_tokens,
        sequence_length=args.sequence_length,
        audio_align=args.align,
    )
    job = TrainingJob(
        data_dir=args.data,
        name=args.name,
        modality=MODALITIES[args.modality],
        models_dir=args.models_dir,
        options=options,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    result = train_and_export(job)
    print(f"version: {result.version_dir}")
    print(f"{result.evaluation.split} accuracy: {result.evaluation.accuracy:.4f}")
    return 0
