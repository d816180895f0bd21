"""Building ``ClassifyRequest`` messages from paths, bytes and strings.

For images and audio a ``str`` or ``PathLike`` is a file path and ``bytes`` are the file's content; for
text a ``str`` is the text itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, TypeAlias

from classifier_client.v1 import classifier_pb2 as pb

PathOrBytes: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview
BinaryKind = Literal["image", "audio"]
_SINGLE = (str, os.PathLike, bytes, bytearray, memoryview)


def read_bytes(source: PathOrBytes) -> bytes:
    """The content of a path, or the bytes themselves."""
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return Path(source).read_bytes()


def binary_inputs(kind: BinaryKind, sources: PathOrBytes | Iterable[PathOrBytes]) -> list[pb.Input]:
    """``Input`` messages of ``kind`` for one file (path or bytes) or several."""
    items = [sources] if isinstance(sources, _SINGLE) else list(sources)
    if kind == "image":
        return [pb.Input(image=read_bytes(item)) for item in items]
    return [pb.Input(audio=read_bytes(item)) for item in items]


def text_inputs(texts: str | Iterable[str]) -> list[pb.Input]:
    """``Input`` messages for one text or several."""
    items = [texts] if isinstance(texts, str) else list(texts)
    return [pb.Input(text=text) for text in items]


def build_request(
    model: str,
    inputs: Sequence[pb.Input],
    *,
    version: int | None = None,
    label: str | None = None,
    top_k: int | None = None,
    min_confidence: float | None = None,
) -> pb.ClassifyRequest:
    """A ``ClassifyRequest``; pin it with ``version`` or a version ``label`` (not both), or neither for the
    newest version. ``top_k`` None: the gateway's default. ``min_confidence`` None: the version's threshold."""
    if version is not None and label is not None:
        raise ValueError("pass version or label, not both")
    if top_k is not None and top_k < 1:
        raise ValueError("top_k must be at least 1")
    request = pb.ClassifyRequest(model=model, inputs=inputs, top_k=top_k or 0)
    if min_confidence is not None:
        request.min_confidence = min_confidence
    if version is not None:
        request.version = version
    elif label is not None:
        request.version_label = label
    return request
