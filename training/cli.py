"""Command line: ``python -m training {train,evaluate,compare,demo,data}``.

train     train one model from a class-per-folder dataset and export the next version
evaluate  score an exported version on a labelled folder (the export's report files)
compare   per-class accuracy changes and answer flips between two versions on a labelled folder
demo      build the demo datasets if missing, then train and export the demo models
data      build the demo datasets only

Exit status: 0 done, 2 a usage or data error (an unusable folder, an unknown version), said on stderr.
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
    train.add_argument("--patience", type=int, default=3, help="epochs without a better val loss before stopping")
    train.add_argument("--seed", type=int, default=0, help="seeds the split, initialisation and shuffling")
    train.add_argument("--val-split", type=_fraction, default=0.1, metavar="FRACTION",
                       help="share of the data held out for early stopping and calibration (default 0.1)")  # fmt: skip
    train.add_argument("--max-minutes", type=_positive, default=None,
                       help="wall-clock budget for the run; training stops before an epoch would pass it")  # fmt: skip
    train.add_argument("--progress", choices=["auto", "bar", "lines", "none"], default="auto",
                       help="auto: a bar on a terminal, one line per epoch otherwise")  # fmt: skip
    train.add_argument("--augment", action="store_true",
                       help="vary training batches (image: shift/rotate/zoom/contrast; speech: shift, noise, speed,"
                       " pitch, SpecAugment; text: short prefixes, token dropout)")  # fmt: skip
    train.add_argument("--min-confidence", type=_probability, default=None, metavar="P",
                       help="answers with a top score below P are marked abstained (requests override it)")  # fmt: skip
    train.add_argument("--no-calibration", action="store_true", help="export without temperature scaling")
    image = train.add_argument_group("image")
    image.add_argument("--image-size", type=_size, default=(_DEFAULTS.image_height, _DEFAULTS.image_width),
                       metavar="HxW", help="model input size, e.g. 28x28 (default 64x64)")  # fmt: skip
    image.add_argument("--color-mode", choices=["rgb", "grayscale"], default=_DEFAULTS.color_mode)
    image.add_argument("--polarity", choices=["as_is", "light_on_dark"], default=_DEFAULTS.polarity)
    text = train.add_argument_group("text")
    text.add_argument("--max-tokens", type=int, default=_DEFAULTS.max_tokens, help="vocabulary size")
    text.add_argument("--min-count", type=int, default=_DEFAULTS.min_count, help="rarer tokens become <unk>")
    text.add_argument("--sequence-length", type=int, default=_DEFAULTS.sequence_length)
    text.add_argument(
        "--char-ngrams",
        type=_ngram_sizes,
        default=(),
        metavar="SIZES",
        help="hash character n-grams of these sizes after the token ids, e.g. 3,4 (default: off)",
    )
    text.add_argument("--char-ngram-buckets", type=int, default=1 << 15, help="hash buckets for --char-ngrams")
    text.add_argument("--char-ngram-length", type=int, default=150, help="n-gram ids kept per text")
    text.add_argument(
        "--short-texts",
        action="store_true",
        help="also train on a short segment of each text (subject, first sentence or word prefix)",
    )
    audio = train.add_argument_group("speech")
    audio.add_argument("--align", choices=["start", "loudest"], default=_DEFAULTS.audio_align)

    evaluate = commands.add_parser("evaluate", help="score an exported version on a labelled folder")
    _version_args(evaluate)
    evaluate.add_argument("--version", required=True, type=int)
    evaluate.add_argument("--out", type=Path, default=None, help="report folder (default evaluation/NAME-vVERSION)")

    compare = commands.add_parser("compare", help="compare two versions on a labelled folder")
    _version_args(compare)
    compare.add_argument("--versions", required=True, type=int, nargs=2, metavar=("A", "B"))
    compare.add_argument("--out", type=Path, default=None, help="also write the comparison as JSON here")

    demo = commands.add_parser("demo", help="build the demo datasets and train the demo models")
    demo.add_argument("--data", type=Path, default=Path("data"))
    demo.add_argument("--models-dir", type=Path, default=Path("models"))
    demo.add_argument("--force", action="store_true", help="train even where a version exists")
    demo.add_argument(
        "--parallel", type=int, default=None, help="models trained at once, in worker processes (default: cores / 2)"
    )

    data = commands.add_parser("data", help="build the demo datasets")
    data.add_argument("--out", type=Path, default=Path("data"))
    data.add_argument("--force", action="store_true", help="rebuild datasets that exist")
    return parser


def _version_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--model", required=True, help="model name: models-dir/NAME/VERSION")
    parser.add_argument("--data", required=True, type=Path, help="labelled folder: DIR/LABEL/FILE (or DIR/test/…)")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _ngram_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 3,4, got {text!r}") from None
    if not sizes or min(sizes) < 1 or max(sizes) > 16:
        raise argparse.ArgumentTypeError("n-gram sizes are between 1 and 16")
    return sizes


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
    from training.loading import DatasetError

    try:
        if args.command == "train":
            return _train(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "compare":
            return _compare(args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "demo":
        from training.demo import run_demo

        run_demo(args.data, args.models_dir, force=args.force, parallel=args.parallel)
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
        min_count=args.min_count,
        sequence_length=args.sequence_length,
        char_ngram_sizes=args.char_ngrams,
        char_ngram_buckets=args.char_ngram_buckets if args.char_ngrams else 0,
        char_ngram_length=args.char_ngram_length if args.char_ngrams else 0,
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
        patience=args.patience,
        seed=args.seed,
        val_fraction=args.val_split,
        max_minutes=args.max_minutes,
        progress=args.progress,
        calibrate=not args.no_calibration,
        augment=args.augment,
        short_texts=args.short_texts,
        min_confidence=args.min_confidence,
    )
    result = train_and_export(job)
    print(f"version: {result.version_dir}")
    print(f"{result.evaluation.split} accuracy: {result.evaluation.accuracy:.4f}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from training.scoring import evaluate_version, labelled_files, load_version, score

    handle = load_version(args.models_dir, args.model, args.version)
    scored = score(handle, labelled_files(args.data, handle.spec))
    out = args.out if args.out is not None else Path("evaluation") / f"{args.model}-v{args.version}"
    evaluation = evaluate_version(scored, out, split=str(args.data))
    print(f"{args.model} v{args.version} on {args.data}: accuracy {evaluation.accuracy:.4f}"
          f" ({evaluation.samples} samples), ECE {evaluation.expected_calibration_error or 0.0:.4f}")  # fmt: skip
    print(f"report: {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from training.comparison import compare, format_comparison
    from training.scoring import labelled_files, load_version, score

    version_a, version_b = args.versions
    a = load_version(args.models_dir, args.model, version_a)
    b = load_version(args.models_dir, args.model, version_b)
    files = labelled_files(args.data, a.spec)
    result = compare(score(a, files), score(b, files))
    print(format_comparison(result))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(result.model_dump_json(indent=2), encoding="utf-8")
    return 0
