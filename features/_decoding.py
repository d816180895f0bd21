"""The boundary to the decoding libraries: raw-input type checks and their errors mapped to ours.

Pillow and libsndfile raise a wide range of exceptions on hostile or corrupt input (``OSError``,
``SyntaxError``, ``struct.error``, ``IndexError``, ...). Callers should only ever see a
:class:`~features.errors.FeatureError`, so every decoder call runs inside :func:`decoder_errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from features.errors import FeatureError, InputTooLarge, UndecodableInput


def as_bytes(raw: object, what: str) -> bytes:
    """``raw`` as ``bytes``; anything else (``str`` included) or an empty payload is refused."""
    if isinstance(raw, bytes):
        data = raw
    elif isinstance(raw, bytearray | memoryview):
        data = bytes(raw)
    else:
        raise UndecodableInput(f"{what} input must be bytes, not {type(raw).__name__}")
    if not data:
        raise UndecodableInput(f"empty {what} input")
    return data


@contextmanager
def decoder_errors(message: str) -> Iterator[None]:
    """Turn any failure of a third-party decoder into ``UndecodableInput(message)``.

    The library's own error is chained (``raise ... from exc``) for logs; its text is not put in
    the message, which may reach clients. Our own errors pass through unchanged, and running out
    of memory while decoding counts as an input that is too large.
    """
    try:
        yield
    except FeatureError:
        raise
    except MemoryError as exc:
        raise InputTooLarge("the input needs too much memory to decode") from exc
    except Exception as exc:
        raise UndecodableInput(message) from exc
