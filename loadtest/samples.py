"""Real demo samples and the request bodies that carry them, shared by the locustfile and the bench.

Samples come from a class-per-folder test split (``data/NAME/test/LABEL/FILE``). Each is sent in one
of three REST forms (``json`` with base64 or text, ``multipart``, ``raw`` body) or as a gRPC
``Input``; bodies are built once, up front, so the load generator spends its time sending.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import orjson

Modality = Literal["image", "text", "audio"]
Form = Literal["json", "multipart", "raw"]
MODALITIES: tuple[Modality, ...] = ("image", "text", "audio")
FORMS: tuple[Form, ...] = ("json", "multipart", "raw")
#: The demo models each modality goes to unless told otherwise.
DEFAULT_MODELS: dict[Modality, str] = {"image": "digits", "text": "spam", "audio": "spoken-digits"}
SUFFIXES: dict[Modality, frozenset[str]] = {
    "image": frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}),
    "text": frozenset({".txt"}),
    "audio": frozenset({".wav"}),
}
RAW_CONTENT_TYPES: dict[str, str] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".bmp": "image/bmp",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".wav": "audio/wav",
    ".txt": "text/plain; charset=utf-8",
}
BOUNDARY = "loadtest-5f0c2a9e1b7d4c38"
T = TypeVar("T")


@dataclass(frozen=True)
class Sample:
    """One test file: its raw content (``str`` for text, ``bytes`` otherwise) and where it came from."""

    path: Path
    content: bytes | str

    @property
    def content_type(self) -> str:
        """The media type a raw body or a multipart file part carries."""
        return RAW_CONTENT_TYPES[self.path.suffix.lower()]


@dataclass(frozen=True)
class Body:
    """A ready-to-send HTTP request body and its Content-Type."""

    content: bytes
    content_type: str


def load_samples(directory: Path, modality: Modality, *, limit: int, seed: int = 0) -> list[Sample]:
    """Up to ``limit`` files of ``modality`` under ``directory`` (recursively), a seeded draw across labels.

    Raises FileNotFoundError when the folder holds none, so a mistyped path fails before the load starts.
    """
    paths = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES[modality])
    if not paths:
        raise FileNotFoundError(f"no {modality} samples ({', '.join(sorted(SUFFIXES[modality]))}) under {directory}")
    random.Random(seed).shuffle(paths)
    chosen = paths[:limit]
    if modality == "text":
        return [Sample(p, p.read_text(encoding="utf-8", errors="replace")) for p in chosen]
    return [Sample(p, p.read_bytes()) for p in chosen]


def json_body(sample: Sample, top_k: int) -> Body:
    """``{"instances": [{"text": ...} | {"b64": ...}], "top_k": k}``."""
    instance = (
        {"text": sample.content}
        if isinstance(sample.content, str)
        else {"b64": base64.b64encode(sample.content).decode("ascii")}
    )
    return Body(orjson.dumps({"instances": [instance], "top_k": top_k}), "application/json")


def multipart_body(sample: Sample, top_k: int) -> Body:
    """``multipart/form-data`` with a ``file`` part (image, audio) or a ``text`` field, and ``top_k``."""
    if isinstance(sample.content, str):
        part = b'Content-Disposition: form-data; name="text"\r\n\r\n' + sample.content.encode("utf-8")
    else:
        part = (
            f'Content-Disposition: form-data; name="file"; filename="{sample.path.name}"\r\n'
            f"Content-Type: {sample.content_type}\r\n\r\n"
        ).encode() + sample.content
    top = f'Content-Disposition: form-data; name="top_k"\r\n\r\n{top_k}'.encode()
    delimiter = f"--{BOUNDARY}\r\n".encode()
    content = delimiter + part + b"\r\n" + delimiter + top + f"\r\n--{BOUNDARY}--\r\n".encode()
    return Body(content, f"multipart/form-data; boundary={BOUNDARY}")


def raw_body(sample: Sample) -> Body:
    """The file itself as the body, typed by its suffix (``image/png``, ``audio/wav``, ``text/plain``)."""
    content = sample.content.encode("utf-8") if isinstance(sample.content, str) else sample.content
    return Body(content, sample.content_type)


def rest_body(sample: Sample, form: Form, top_k: int) -> Body:
    """The body of one classify request in ``form``."""
    if form == "json":
        return json_body(sample, top_k)
    if form == "multipart":
        return multipart_body(sample, top_k)
    return raw_body(sample)


def classify_path(model: str) -> str:
    """The REST path of a classify call on the model's newest version."""
    return f"/v1/models/{model}:classify"


def cycle_from(items: Sequence[T], start: int) -> Iterator[T]:
    """``items`` over and over, starting at index ``start``, so each user walks its own sequence."""
    count = len(items)
    index = start % count
    while True:
        yield items[index]
        index = (index + 1) % count
