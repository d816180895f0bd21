"""V2's tensor encodings: BYTES elements in binary form, FP32 rows, and the input rule per modality.

A BYTES tensor in binary form (the binary tensor data extension, gRPC's ``raw_input_contents``) is its
elements back to back, each a 4-byte little-endian length and that many bytes. A V2 BYTES element does not
say what it holds, so ``adapt_input`` gives it the meaning the model's modality needs: text models take
UTF-8 text; image and audio models take the file's bytes, and since JSON cannot carry raw bytes, a JSON
string for them is base64 (as MLServer's ``base64`` content type).
"""

from __future__ import annotations

import binascii
import struct

import numpy as np
import pybase64

from service.core.schemas import RawInput
from service.errors import InvalidInput

_LENGTH = struct.Struct("<I")


def split_bytes_elements(data: bytes | memoryview, count: int, *, where: str) -> list[bytes]:
    """``count`` length-prefixed elements that fill ``data`` exactly; anything else is InvalidInput."""
    view = memoryview(data)
    elements: list[bytes] = []
    offset = 0
    for index in range(count):
        if offset + 4 > len(view):
            raise InvalidInput(f"{where}: element {index} of {count} is missing (the binary data ends early)")
        (size,) = _LENGTH.unpack_from(view, offset)
        offset += 4
        if offset + size > len(view):
            raise InvalidInput(f"{where}: element {index} declares {size} bytes but only {len(view) - offset} remain")
        elements.append(bytes(view[offset : offset + size]))
        offset += size
    if offset != len(view):
        raise InvalidInput(f"{where}: {len(view) - offset} bytes follow the last of the {count} elements")
    return elements


def join_bytes_elements(elements: list[bytes]) -> bytes:
    """Elements -> one binary BYTES tensor."""
    return b"".join(_LENGTH.pack(len(e)) + e for e in elements)


def fp32_bytes(array: np.ndarray) -> bytes:
    """An FP32 tensor in binary form: little-endian, row-major."""
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def adapt_input(index: int, raw: RawInput, modality: str) -> RawInput:
    """A BYTES element -> what a ``modality`` model takes (see the module docstring)."""
    if modality == "text":
        if isinstance(raw, str):
            return raw
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"instance {index}: a text model takes UTF-8 text: {exc.reason} at byte {exc.start}"
            ) from exc
    if isinstance(raw, str):
        try:
            return pybase64.b64decode(raw, validate=True)  # SIMD; the same strict alphabet as REST's
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"instance {index}: a JSON string for an {modality} model is base64, and this is not"
            ) from exc
    return raw
