"""``python -m service.modelserver --models-dir models --port 8500`` (console script ``classifier-modelserver``).

A stand-in for ``tensorflow_model_server`` on machines without it (development, tests, CI): serves the
repository over TF Serving's gRPC API. Everything not on the command line (batching, version policy and
labels, limits) comes from the ``CLASSIFIER_*`` environment, as for the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from service.modelserver.server import model_server_settings, serve
from service.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(prog="classifier-modelserver", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=Path("models"), help="model repository NAME/VERSION/")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8500, help="gRPC port, TF Serving's 8500 by default")
    args = parser.parse_args(argv)
    settings = model_server_settings(Settings(models_dir=args.models_dir, backend="embedded"))
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    asyncio.run(serve(settings, host=args.host, port=args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
