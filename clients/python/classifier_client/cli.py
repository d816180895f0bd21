"""One-line command line over ``ClassifierClient``; prints JSON, exits 1 with the gateway's message on error.

python -m classifier_client classify --target 127.0.0.1:50051 --model digits --image seven.png
python -m classifier_client classify --model mail --text "win a prize" --text "lunch at 12?"
python -m classifier_client classify-dir photos/ --model digits --out results.csv
python -m classifier_client models
python -m classifier_client model digits
CLASSIFIER_API_KEY=csk_... python -m classifier_client --root-cert ca.pem --target host:50051 models
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from classifier_client.classify_dir import RETRYABLE, classify_dir, progress_stream
from classifier_client.client import DEFAULT_TIMEOUT_S, ClassifierClient
from classifier_client.errors import ClassifierError
from classifier_client.messages import binary_inputs, text_inputs
from classifier_client.retry import RetryPolicy

#: The environment variable the command reads the gateway's API key from.
API_KEY_ENV = "CLASSIFIER_API_KEY"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m classifier_client", description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051", help="gateway gRPC address (host:port)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="deadline in seconds")
    parser.add_argument("--tls", action="store_true", help="TLS with the system's roots")
    parser.add_argument("--root-cert", type=Path, default=None, help="PEM roots for TLS (implies --tls)")
    # The same options after the command (``classify --target ...``); SUPPRESS keeps the ones given before.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--target", default=argparse.SUPPRESS, help="gateway gRPC address (host:port)")
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS, help="deadline in seconds")
    common.add_argument("--tls", action="store_true", default=argparse.SUPPRESS, help="TLS with the system's roots")
    common.add_argument("--root-cert", type=Path, default=argparse.SUPPRESS, help="PEM roots (implies --tls)")
    commands = parser.add_subparsers(dest="command", required=True)

    classify = commands.add_parser("classify", parents=[common], help="classify images, recordings or texts")
    classify.add_argument("--model", required=True)
    kinds = classify.add_mutually_exclusive_group(required=True)
    kinds.add_argument("--image", action="append", help="image file; repeat for several")
    kinds.add_argument("--audio", action="append", help="WAV file; repeat for several")
    kinds.add_argument("--text", action="append", help="text; repeat for several")
    pin = classify.add_mutually_exclusive_group()
    pin.add_argument("--version", type=int, help="model version (default: newest)")
    pin.add_argument("--label", help="version label, e.g. stable or canary")
    classify.add_argument("--top-k", type=int, help="ranked labels per input")

    folder = commands.add_parser("classify-dir", parents=[common], help="classify every file of a folder into a CSV")
    folder.add_argument("dir", type=Path, help="a folder; DIR/LABEL/FILE also reports the accuracy")
    folder.add_argument("--model", required=True)
    folder.add_argument("--out", type=Path, required=True, help="CSV: path, true_label, label, score, abstained, error")
    folder.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    folder.add_argument("--retries", type=int, default=4, help="retries per file when the gateway is busy or down")
    folder.add_argument("--min-confidence", type=float, default=None, help="abstain below this top score")

    commands.add_parser("models", parents=[common], help="list the served models")
    model = commands.add_parser("model", parents=[common], help="describe one model")
    model.add_argument("name")
    return parser


def _run(args: argparse.Namespace, client: ClassifierClient) -> Any:
    if args.command == "models":
        return [dataclasses.asdict(m) for m in client.list_models(timeout=args.timeout)]
    if args.command == "model":
        return dataclasses.asdict(client.get_model(args.name, timeout=args.timeout))
    if args.image:
        inputs = binary_inputs("image", args.image)
    elif args.audio:
        inputs = binary_inputs("audio", args.audio)
    else:
        inputs = text_inputs(args.text)
    result = client.classify(
        args.model, inputs, version=args.version, label=args.label, top_k=args.top_k, timeout=args.timeout
    )
    return dataclasses.asdict(result)


def _classify_dir(args: argparse.Namespace) -> int:
    if not args.dir.is_dir() or args.concurrency < 1 or args.retries < 0:
        print(f"error: {args.dir} is not a folder" if not args.dir.is_dir() else "error: bad --concurrency/--retries",
              file=sys.stderr)  # fmt: skip
        return 2
    retry = RetryPolicy(max_attempts=args.retries + 1, retryable=RETRYABLE)
    with ClassifierClient(args.target, timeout=args.timeout, retry=retry) as client:
        try:
            summary = classify_dir(
                client,
                args.dir,
                args.model,
                args.out,
                concurrency=args.concurrency,
                min_confidence=args.min_confidence,
                timeout=args.timeout,
                progress=progress_stream(),
            )
        except ClassifierError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(summary.format())
    print(f"results: {args.out}")
    return 0 if summary.failed == 0 else 1


def main(argv: list[str] | None = None) -> int:
    """Run one command; 0 on success, 1 when the gateway refused it, 2 on a usage error."""
    args = _parser().parse_args(argv)
    if args.command == "classify-dir":
        return _classify_dir(args)
    roots = args.root_cert.read_bytes() if args.root_cert is not None else None
    # The key comes from the environment, not a flag, so it stays out of shell history and process lists.
    api_key = os.environ.get(API_KEY_ENV) or None
    with ClassifierClient(
        args.target, timeout=args.timeout, tls=args.tls, root_certificates=roots, api_key=api_key
    ) as client:
        try:
            answer = _run(args, client)
        except ClassifierError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(answer, indent=2))
    return 0
