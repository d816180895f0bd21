"""A hostile input corpus, generated in memory: bombs, lies, truncations and odd modes for every modality.

Nothing here is committed as a binary; each builder writes the bytes it describes, so a test can
state what the file claims and what it holds. ``image_corpus()``, ``audio_corpus()`` and
``text_corpus()`` give ``(name, payload)`` pairs; the ``*_bomb`` builders are shared with
``scripts/attack_findings.py``.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator

import numpy as np
import soundfile
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# -- images ---------------------------------------------------------------------------------------


def encode(image: Image.Image, format: str, **options: object) -> bytes:
    """Pillow's encoding of ``image``."""
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int, *, complete: bool = True) -> bytes:
    """A grayscale PNG of ``width x height`` zero pixels, streamed through zlib (a few hundred KB).

    ``complete=False`` writes only the first rows: the header still states the full size.
    """
    compressor = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0, then the pixels
    rows = height if complete else min(height, 16)
    parts = [compressor.compress(row) for _ in range(rows)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def ico_wrapping(embedded: bytes, *, stated: int = 0) -> bytes:
    """An ICO of one icon whose directory states ``stated`` x ``stated`` (0 means 256) around ``embedded``."""
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", stated, stated, 0, 0, 1, 32, len(embedded), 6 + 16)
    return directory + entry + embedded


def rle8_bmp(width: int, height: int) -> bytes:
    """An RLE8 BMP of ``width x height`` whose rows are "one pixel, end of line" (4 bytes a row)."""
    pixels = b"\x01\x07\x00\x00" * height + b"\x00\x01"
    palette = b"".join(struct.pack("<BBBB", i, i, i, 0) for i in range(256))
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    offset = 14 + len(info) + len(palette)
    file_header = b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset)
    return file_header + info + palette + pixels


def bmp_header_only(width: int, height: int) -> bytes:
    """An uncompressed 24-bit BMP header stating ``width x height`` and no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def gif_header_only(width: int, height: int) -> bytes:
    """A GIF whose logical screen states ``width x height``, with one 1x1 frame."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def image_corpus() -> Iterator[tuple[str, bytes]]:
    """Every hostile or odd image payload, named."""
    glyph = np.full((40, 30), 230, dtype=np.uint8)
    glyph[5:35, 8:13] = 20
    gray = Image.fromarray(glyph)
    rgb = gray.convert("RGB")
    png = encode(gray, "PNG")
    jpeg = encode(rgb, "JPEG")
    yield "png-header-100000x100000", png_bomb(100_000, 100_000, complete=False)
    yield "png-bomb-7000x7000", png_bomb(7_000, 7_000, complete=False)
    yield "ico-lying-about-png-13000", ico_wrapping(png_bomb(13_000, 13_000, complete=False))
    yield "ico-lying-about-png-3000", ico_wrapping(png_bomb(3_000, 3_000, complete=False))
    yield "ico-rle-dib", ico_wrapping(rle8_bmp(2_000, 2_000)[14:])
    yield "ico-truncated-directory", struct.pack("<HHH", 0, 1, 200) + b"\x00" * 20
    yield "ico-offset-past-end", struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, 99, 10**9)
    yield "ico-valid", encode(rgb, "ICO")
    yield "bmp-rle8-6324", rle8_bmp(6_324, 6_324)
    yield "bmp-rle8-small", rle8_bmp(64, 64)
    yield "bmp-header-50000x50000", bmp_header_only(50_000, 50_000)
    yield "bmp-negative-height", bmp_header_only(30, -40)
    yield "gif-screen-65535x65535", gif_header_only(65_535, 65_535)
    yield "tiff-header-huge", _tiff_header(70_000, 70_000)
    yield "jpeg-sof-65000x65000", _jpeg_with_size(jpeg, 65_000, 65_000)
    yield "png-truncated", png[: len(png) // 2]
    yield "jpeg-truncated", jpeg[: len(jpeg) // 2]
    yield "png-magic-then-garbage", PNG_MAGIC + bytes(range(256)) * 4
    yield "png-bad-crc", png[:20] + b"\x00\x00" + png[22:]
    yield "wav-bytes-as-image", wav_bytes(np.zeros(800), 8_000)
    yield "text-as-image", b"hello world"
    yield "one-byte", b"\x00"
    yield "mode-I;16", encode(Image.fromarray(glyph.astype(np.uint16) * 257), "PNG")
    yield "mode-CMYK-jpeg", encode(rgb.convert("CMYK"), "JPEG")
    yield "mode-CMYK-tiff", encode(rgb.convert("CMYK"), "TIFF")
    yield "mode-P-transparency", encode(rgb.convert("P"), "PNG", transparency=0)
    yield "mode-LA", encode(gray.convert("LA"), "PNG")
    yield "mode-1", encode(gray.convert("1"), "PNG")
    yield "mode-1-bmp", encode(gray.convert("1"), "BMP")
    yield "mode-F-tiff", encode(Image.fromarray(glyph.astype(np.float32) / 255), "TIFF")
    yield "mode-RGBA-webp", encode(rgb.convert("RGBA"), "WEBP")
    yield "one-pixel", encode(Image.new("L", (1, 1)), "PNG")
    yield "one-row-5000", encode(Image.new("L", (5_000, 1), 200), "PNG")
    yield "exif-orientation-8", encode(rgb, "JPEG", exif=_exif_orientation(8))


def _tiff_header(width: int, height: int) -> bytes:
    """A little-endian TIFF whose one IFD states ``width x height`` 8-bit gray, one strip of 8 bytes."""
    entries = [
        (256, 4, 1, width),  # ImageWidth
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # Photometric: black is zero
        (273, 4, 1, 8),  # StripOffsets
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 8),  # StripByteCounts
    ]
    ifd_offset = 16
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)
    return b"II*\x00" + struct.pack("<I", ifd_offset) + bytes(8) + ifd


def _jpeg_with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with its SOF0 frame header stating ``width x height``."""
    marker = jpeg.index(b"\xff\xc0")
    return jpeg[: marker + 5] + struct.pack(">HH", height, width) + jpeg[marker + 9 :]


def _exif_orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[274] = value
    return exif.tobytes()


# -- audio ----------------------------------------------------------------------------------------


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    """A WAV file written by libsndfile."""
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def raw_wav(
    *,
    rate: int = 16_000,
    channels: int = 1,
    bits: int = 16,
    data: bytes = b"\x00\x00" * 160,
    data_size: int | None = None,
    riff_size: int | None = None,
    byte_rate: int | None = None,
) -> bytes:
    """A PCM WAV written by hand, so that every header field can lie about what follows."""
    block_align = (channels * bits // 8) & 0xFFFF  # the fields are as wide as the format has them
    stated_rate = (rate * block_align) & 0xFFFF_FFFF if byte_rate is None else byte_rate
    fmt = struct.pack("<HHIIHH", 1, channels, rate, stated_rate, block_align, bits)
    stated = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", stated) + data
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def audio_corpus() -> Iterator[tuple[str, bytes]]:
    """Every hostile or odd audio payload, named."""
    t = np.arange(16_000) / 16_000
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    pcm = (tone * 32767).astype("<i2").tobytes()
    yield "frames-lie-huge", raw_wav(data=pcm, data_size=0xFFFF_FFF0)
    yield "frames-lie-31-minutes", raw_wav(data=pcm, data_size=16_000 * 2 * 60 * 31)
    yield "riff-size-lie", raw_wav(data=pcm, riff_size=0xFFFF_FFFF)
    yield "byte-rate-lie", raw_wav(data=pcm, byte_rate=1)
    yield "rate-zero", raw_wav(rate=0, data=pcm)
    yield "rate-1", raw_wav(rate=1, data=pcm)
    yield "rate-4e9", raw_wav(rate=4_000_000_000, data=pcm)
    yield "rate-7999", raw_wav(rate=7_999, data=pcm)
    yield "rate-48001", raw_wav(rate=48_001, data=pcm)
    yield "rate-11025", wav_bytes(tone[:11_025], 11_025)
    yield "channels-zero", raw_wav(channels=0, data=pcm)
    yield "channels-1024-lying-frames", raw_wav(channels=1024, data=pcm * 4, data_size=0x7FFF_0000)
    yield "channels-65535", raw_wav(channels=65_535, data=pcm)
    yield "channels-6", wav_bytes(np.tile(tone[:8_000, None], (1, 6)), 16_000)
    yield "zero-frames", raw_wav(data=b"")
    yield "one-frame", raw_wav(data=b"\x01\x00")
    yield "odd-byte-count", raw_wav(data=pcm[:-1])
    yield "bits-0", raw_wav(bits=0, data=pcm)
    yield "bits-7", raw_wav(bits=7, data=pcm)
    yield "pcm-u8", wav_bytes(tone, 16_000, "PCM_U8")
    yield "pcm-24", wav_bytes(tone, 16_000, "PCM_24")
    yield "float-nan-inf", wav_bytes(np.array([np.nan, np.inf, -np.inf, 0.5] * 400, dtype=np.float32), 16_000, "FLOAT")
    yield "float-huge", wav_bytes(np.full(1_600, 1e30, dtype=np.float32), 16_000, "FLOAT")
    yield "truncated-header", raw_wav(data=pcm)[:30]
    yield "riff-only", b"RIFF\x00\x00\x00\x00WAVE"
    yield "png-as-audio", encode(Image.new("L", (4, 4)), "PNG")
    yield "text-as-audio", b"hello"


# -- text -----------------------------------------------------------------------------------------


def text_corpus() -> Iterator[tuple[str, str]]:
    """Every hostile or odd text, named."""
    yield "combining-100000", "a" + "\u0301" * 49_999 + "\u0316" * 50_000
    yield "combining-runs-many", ("b" + "\u0301\u0316" * 20 + " ") * 2_000
    yield "tibetan-decomposing", "\u0f40" + "\u0f73" * 5_000
    yield "rtl-override", "\u202eevil\u202c hello \u05e9\u05dc\u05d5\u05dd"
    yield "nul", "hello\x00world"
    yield "control-chars", "".join(chr(c) for c in range(32)) + "text"
    yield "zwj-emoji", "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 100
    yield "noncharacters", "\ufffe\uffff\U0010ffff ok"
    yield "fullwidth-ligatures", "ＨＥＬＬＯ ﬁne Straße"
    yield "long-word", "x" * 100_000
    yield "at-the-limit", "word " * 20_000
    yield "over-the-limit", "w" * 100_001
    yield "whitespace-only", " \t\n\u3000\u2028"
    yield "empty", ""
    yield "only-marks", "\u0301" * 500
    yield "hangul-jamo", "\u1100\u1161\u11a8" * 3_000
