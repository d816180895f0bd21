"""What an image file will cost to decode, read from its headers before any pixel is decoded.

Pillow checks its own pixel limit late or not at all for some layouts, so these guards run first:

- **ICO**: Pillow decodes the largest icon while *opening* the file, at the size its embedded PNG or
  DIB states, whatever the directory says: a directory entry of 256 x 256 can wrap a PNG of
  13,000 x 13,000. :func:`ico_pixels` reads every embedded image's own header instead and refuses
  one past the pixel limit (or an RLE one past the RLE limit) before Pillow sees the file.
- **RLE BMP** (RLE4/RLE8): Pillow's decoder is pure Python at about 0.25 us per pixel however small
  the file is (a 25 KB file can state 6,324 x 6,324 and cost 9 s), so these get their own, small
  limit ``max_rle_bmp_pixels``.
- Every other format (PNG, JPEG, GIF, TIFF, WebP, ...) is decoded at its header's size, checked
  against ``max_image_pixels`` by :func:`check_opened`.

:func:`image_pixels` gives the pixels a file will decode to, for the per-request budget.
"""

from __future__ import annotations

import io
import struct

from PIL import Image, ImageFile

from features.errors import InputTooLarge
from features.limits import InputLimits

ICO_MAGIC = b"\x00\x00\x01\x00"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ICO_DIRECTORY = struct.Struct("<HHH")
_ICO_ENTRY = struct.Struct("<BBBBHHII")
#: DIB compression codes (BITMAPINFOHEADER.biCompression) that Pillow decodes in Python.
_DIB_RLE = frozenset({1, 2})
_RLE_CODEC = "bmp_rle"


def ico_pixels(data: bytes, limits: InputLimits) -> int:
    """The pixels of the largest image an ICO holds, each read from the image's own header.

    Raises InputTooLarge for an image past ``max_image_pixels``, or an RLE image past
    ``max_rle_bmp_pixels``. Entries that cannot be read are left to Pillow, which refuses them.
    """
    if len(data) < _ICO_DIRECTORY.size:
        return 0
    _, _, count = _ICO_DIRECTORY.unpack_from(data)
    count = min(count, (len(data) - _ICO_DIRECTORY.size) // _ICO_ENTRY.size)
    largest = 0
    for index in range(count):
        *_, offset = _ICO_ENTRY.unpack_from(data, _ICO_DIRECTORY.size + index * _ICO_ENTRY.size)
        pixels, rle = _embedded_size(data, offset)
        if pixels > limits.max_image_pixels:
            raise InputTooLarge(
                f"icon {index} of the ICO holds {pixels} pixels; the limit is {limits.max_image_pixels} pixels"
            )
        if rle and pixels > limits.max_rle_bmp_pixels:
            raise InputTooLarge(_rle_message(pixels, limits))
        largest = max(largest, pixels)
    return largest


def check_opened(image: Image.Image, limits: InputLimits) -> int:
    """The pixels an opened (not yet loaded) image will decode to; InputTooLarge past a limit."""
    width, height = image.size
    pixels = width * height
    if pixels > limits.max_image_pixels:
        raise InputTooLarge(f"image of {width}x{height} pixels is over the limit of {limits.max_image_pixels} pixels")
    tiles = image.tile if isinstance(image, ImageFile.ImageFile) else []
    if pixels > limits.max_rle_bmp_pixels and any(tile.codec_name == _RLE_CODEC for tile in tiles):
        raise InputTooLarge(_rle_message(pixels, limits))
    return pixels


def image_pixels(data: bytes, formats: tuple[str, ...], limits: InputLimits) -> int:
    """Pixels ``data`` will decode to, from headers only; 0 when they cannot be read (decoding will say why).

    Raises InputTooLarge as decoding would, before any pixel is decoded.
    """
    if data.startswith(ICO_MAGIC):
        return ico_pixels(data, limits)
    try:
        with Image.open(io.BytesIO(data), formats=formats) as image:
            return check_opened(image, limits)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputTooLarge("image is over Pillow's decompression-bomb limit") from exc
    except InputTooLarge:
        raise
    except Exception:  # unreadable: preprocessing refuses it with the input's index
        return 0


def _embedded_size(data: bytes, offset: int) -> tuple[int, bool]:
    """(pixels, is RLE) of the PNG or DIB at ``offset``; (0, False) when its header is cut short."""
    header = data[offset : offset + 24]
    if header.startswith(_PNG_MAGIC):
        if len(header) < 24:
            return 0, False
        width, height = struct.unpack_from(">II", header, 16)
        return width * height, False
    if len(header) < 20:
        return 0, False
    (header_size,) = struct.unpack_from("<I", header)
    if header_size == 12:  # BITMAPCOREHEADER: 16-bit sizes, no compression
        width, height = struct.unpack_from("<HH", header, 4)
        return width * height, False
    width, height, _, _, compression = struct.unpack_from("<iiHHI", header, 4)
    # An icon's DIB height counts the colour image and its mask; Pillow allocates the first half.
    return abs(width) * abs(height), compression in _DIB_RLE


def _rle_message(pixels: int, limits: InputLimits) -> str:
    return (
        f"a run-length-encoded BMP of {pixels} pixels is over the limit of {limits.max_rle_bmp_pixels} pixels"
        " for that encoding"
    )
