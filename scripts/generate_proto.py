"""Generate the Python messages, stubs and type stubs of ``proto/`` into the client package (``make proto``).

    python scripts/generate_proto.py [--out DIR]

Runs grpcio-tools' protoc on every ``.proto`` under ``proto/`` and writes ``NAME_pb2.py``, ``NAME_pb2.pyi``
and ``NAME_pb2_grpc.py`` flat into ``DIR`` (default: ``clients/python/classifier_client/v1``). protoc
writes imports rooted at the proto package (``from classifier.v1 import ...``); they are rewritten to
point into the client package, so the generated code has one home and no top-level ``classifier`` package.
The output depends only on the .proto files and the grpcio-tools version, so a test can regenerate it
and compare with what is committed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = "classifier.v1"
CLIENT_PACKAGE = "classifier_client.v1"
DEFAULT_OUT = ROOT / "clients" / "python" / "classifier_client" / "v1"


def generate(out_dir: Path) -> list[Path]:
    """Generate into ``out_dir`` (created if missing); returns the files written."""
    sources = sorted(PROTO_ROOT.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as scratch:
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            # The well-known types (google/protobuf/*.proto) that grpcio-tools ships, for imports of them.
            f"-I{resources.files('grpc_tools') / '_proto'}",
            f"--python_out={scratch}",
            f"--pyi_out={scratch}",
            f"--grpc_python_out={scratch}",
            *(str(source.relative_to(PROTO_ROOT)) for source in sources),
        ]
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for produced in sorted(Path(scratch).rglob("*_pb2*.py*")):
            target = out_dir / produced.name
            target.write_text(_relocate(produced.read_text(encoding="utf-8")), encoding="utf-8")
            written.append(target)
    return written


def _relocate(code: str) -> str:
    # Only imports of sibling generated modules and the module name under which message classes
    # register move; service names such as 'classifier.v1.Classifier' are wire names and stay.
    code = code.replace(f"from {PROTO_PACKAGE} import ", f"from {CLIENT_PACKAGE} import ")
    return re.sub(rf"'{re.escape(PROTO_PACKAGE)}\.(\w+_pb2)'", rf"'{CLIENT_PACKAGE}.\1'", code)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the generated modules go")
    args = parser.parse_args(argv)
    for stale in args.out.glob("*_pb2*.py*"):
        stale.unlink()
    for path in generate(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
