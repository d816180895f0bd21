"""Log lines of the gateway: text (the default) or one JSON object per line (``CLASSIFIER_LOG_FORMAT=json``).

JSON lines come from python-json-logger and carry ``time``, ``level``, ``logger``, ``message`` and
``request_id`` (plus ``exc_info`` with a traceback); text lines carry the request id in brackets. Both
get the id from ``RequestIdLogFilter``, so every line logged while a request is handled names it.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from service.observability.request_ids import RequestIdLogFilter

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s]: %(message)s"


def log_formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of one log format."""
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, fmt: LogFormat = "text") -> None:
    """One line per event on stderr, for the gateway and the libraries it runs (uvicorn included)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(log_formatter(fmt))
    handler.addFilter(RequestIdLogFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
