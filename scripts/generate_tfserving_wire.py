"""Generate the TF Serving wire messages of ``service/tfserving_wire/`` (``make tfserving-proto``).

    python scripts/generate_tfserving_wire.py [--out DIR]

Runs grpcio-tools' protoc on ``service/tfserving_wire/*.proto`` with the repository root as the import
root, so the generated modules import each other as ``service.tfserving_wire.X_pb2`` and register their
files as ``service/tfserving_wire/X.proto`` (never clashing with TensorFlow's own files). Writes
``X_pb2.py`` and ``X_pb2.pyi`` under ``DIR/service/tfserving_wire/`` (default ``DIR``: the repository,
i.e. in place). No gRPC stubs: the backend calls TF Serving's method paths itself. The output depends
only on the .proto files and the grpcio-tools version, so a test regenerates it and compares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path("service/tfserving_wire")


def generate(out_root: Path) -> list[Path]:
    """Generate into ``out_root/service/tfserving_wire/``; returns the files written."""
    from grpc_tools import protoc  # a development tool: imported only when generating

    sources = sorted((ROOT / PACKAGE_DIR).glob("*.proto"))
    (out_root / PACKAGE_DIR).mkdir(parents=True, exist_ok=True)
    for stale in (out_root / PACKAGE_DIR).glob("*_pb2.py*"):
        stale.unlink()
    include_wellknown = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include_wellknown}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        *(str(source.relative_to(ROOT)) for source in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_root / PACKAGE_DIR).glob("*_pb2.py*"))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="root under which service/tfserving_wire/ is written")
    args = parser.parse_args(argv)
    for path in generate(args.out.resolve()):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
