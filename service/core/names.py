"""What a model name, a version number and a version label may look like, checked before any lookup.

Every surface passes client-given names through here first (the core does it for both REST and
gRPC; REST also parses its path's version text here), so a 10 KB "label" or a version of ``"1.0"``
is refused at once (422 / INVALID_ARGUMENT, like any schema violation) and never reaches a
backend, a metric label or an error message.

- Model names and version labels: :data:`NAME_PATTERN`, an ASCII letter or digit and then up to
  63 letters, digits, ``.``, ``_`` or ``-`` (what a folder name, a Prometheus label value and a
  URL path segment all carry without quoting).
- Versions: a positive decimal integer without sign, spaces or leading zeros, below 2**63 (TF
  Serving's int64): :data:`VERSION_PATTERN`.

:func:`shown` is the one way a problem detail quotes client input: a bounded prefix.
"""

from __future__ import annotations

import re

from service.core.schemas import ClassifyCall
from service.errors import SchemaViolation

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
VERSION_PATTERN = r"^[1-9][0-9]{0,18}$"
#: Characters of client input a problem detail may quote.
SHOWN_CHARS = 64
_MAX_VERSION = 2**63 - 1

Location = tuple[str, ...]

_NAME = re.compile(NAME_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)


def shown(value: str, limit: int = SHOWN_CHARS) -> str:
    """``value`` quoted for an error message: its first ``limit`` characters, ``repr``-escaped."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def check_model_name(name: str, loc: Location = ("model",)) -> str:
    """``name`` if it is a well-formed model name; SchemaViolation at ``loc`` otherwise."""
    if _NAME.fullmatch(name) is None:
        raise _violation(f"{shown(name)} is not a model name", loc, NAME_PATTERN)
    return name


def check_version_label(label: str, loc: Location = ("version_label",)) -> str:
    """``label`` if it is a well-formed version label; SchemaViolation at ``loc`` otherwise."""
    if _NAME.fullmatch(label) is None:
        raise _violation(f"{shown(label)} is not a version label", loc, NAME_PATTERN)
    return label


def check_version(version: int, loc: Location = ("version",)) -> int:
    """``version`` if it is a positive int64; SchemaViolation at ``loc`` otherwise."""
    if not 1 <= version <= _MAX_VERSION:
        raise _violation(f"version {version} is not a positive 64-bit integer", loc, VERSION_PATTERN)
    return version


def parse_version(text: str, loc: Location = ("path", "version")) -> int:
    """A version from URL text: ``"7"`` -> 7; ``"07"``, ``"7.0"``, ``" 7"``, ``"+7"`` are refused."""
    if _VERSION.fullmatch(text) is None:
        raise _violation(f"{shown(text)} is not a version number", loc, VERSION_PATTERN)
    return check_version(int(text), loc)


def check_call_names(call: ClassifyCall) -> None:
    """Every name a classify call carries (model, version or label); SchemaViolation on the first bad one."""
    check_model_name(call.model)
    if call.version is not None:
        check_version(call.version)
    if call.version_label is not None:
        check_version_label(call.version_label)


def _violation(detail: str, loc: Location, pattern: str) -> SchemaViolation:
    message = f"must match {pattern}"
    return SchemaViolation(
        f"{detail} ({message})", errors=[{"loc": list(loc), "msg": message, "type": "string_pattern_mismatch"}]
    )
