"""Generate the Open Inference Protocol (V2) gRPC code of ``service/v2/wire/`` (``make proto``).

    python scripts/generate_v2_wire.py [--out DIR]

Runs grpcio-tools' protoc on ``service/v2/wire/grpc_service.proto`` with the repository root as the import
root (modules import each other as ``service.v2.wire.X``), and writes ``grpc_service_pb2.py``, ``.pyi`` and
``grpc_service_pb2_grpc.py`` under ``DIR/service/v2/wire/`` (default ``DIR``: the repository, in place).

One rewrite: the messages are registered in a descriptor pool of their own, not protobuf's default pool.
Their names (``inference.ModelInferRequest`` ...) are the specification's, and Triton's client registers the
same names in the default pool; two registrations of one name in one pool fail at import, so a process
that loads both (a test, a load generator) could not start. The wire format does not depend on the pool.
The output depends only on the .proto file and the grpcio-tools version, so a test regenerates and compares.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = Path("service/v2/wire")
_DEFAULT_POOL = "_descriptor_pool.Default().AddSerializedFile("
_OWN_POOL = "_descriptor_pool.DescriptorPool().AddSerializedFile("


def generate(out_root: Path) -> list[Path]:
    """Generate into ``out_root/service/v2/wire/``; returns the files written."""
    from grpc_tools import protoc  # a development tool: imported only when generating

    target = out_root / PACKAGE_DIR
    target.mkdir(parents=True, exist_ok=True)
    for stale in target.glob("*_pb2*.py*"):
        stale.unlink()
    include_wellknown = Path(protoc.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include_wellknown}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        str(PACKAGE_DIR / "grpc_service.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    messages = target / "grpc_service_pb2.py"
    code = messages.read_text(encoding="utf-8")
    if code.count(_DEFAULT_POOL) != 1:
        raise SystemExit(f"protoc's output changed shape: expected one {_DEFAULT_POOL!r} in {messages}")
    messages.write_text(code.replace(_DEFAULT_POOL, _OWN_POOL), encoding="utf-8")
    return sorted(target.glob("*_pb2*.py*"))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT, help="root under which service/v2/wire/ is written")
    args = parser.parse_args(argv)
    for path in generate(args.out.resolve()):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
