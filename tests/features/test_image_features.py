"""Image preprocessing: formats, modes, orientation, sizes, polarity, padding and refusals."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageOps

from features.errors import InputTooLarge, UndecodableInput
from features.image import preprocess_image, preprocess_image_array
from features.limits import InputLimits
from features.spec import ImageFeatures


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG announcing ``width x height`` (8-bit RGB) whose pixel data is junk, not zlib."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", b"not pixels") + _png_chunk(b"IEND", b"")
    )


def _quadrants(width: int = 48, height: int = 24) -> Image.Image:
    """An RGB image whose four quadrants have distinct colours, so any flip or turn shows."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    h, w = height // 2, width // 2
    pixels[:h, :w] = (250, 10, 10)
    pixels[:h, w:] = (10, 250, 10)
    pixels[h:, :w] = (10, 10, 250)
    pixels[h:, w:] = (240, 240, 240)
    return Image.fromarray(pixels)


@pytest.mark.parametrize(
    ("format", "options"),
    [("PNG", {}), ("GIF", {}), ("BMP", {}), ("WEBP", {"lossless": True}), ("TIFF", {}), ("PPM", {})],
)
def test_preprocess_image_lossless_formats_agree(encode_image, glyph, gray_spec, format, options):
    expected = preprocess_image_array(glyph, gray_spec)
    data = encode_image(Image.fromarray(glyph), format, **options)

    result = preprocess_image(data, gray_spec)

    assert result.shape == (28, 28, 1)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("format", ["JPEG", "WEBP"])
def test_preprocess_image_lossy_formats_close(encode_image, glyph, gray_spec, format):
    expected = preprocess_image_array(glyph, gray_spec).astype(int)
    data = encode_image(Image.fromarray(glyph).convert("RGB"), format, quality=95)

    result = preprocess_image(data, gray_spec)

    assert np.abs(result.astype(int) - expected).mean() < 4


def test_preprocess_image_returns_writable_contiguous_array(encode_image, glyph, rgb_spec):
    result = preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), rgb_spec)

    assert result.shape == (32, 32, 3)
    assert result.flags.c_contiguous
    assert result.flags.writeable


def test_preprocess_image_big_jpeg_draft_matches_full_decode(encode_image):
    y, x = np.mgrid[0:1200, 0:1600]
    pixels = np.stack([x * 255 // 1600, y * 255 // 1200, (x + y) * 255 // 2800], axis=-1).astype(np.uint8)
    pixels[500:700, 700:900] = 0
    spec = ImageFeatures(height=24, width=32)
    expected = preprocess_image(encode_image(Image.fromarray(pixels), "PNG"), spec).astype(int)

    result = preprocess_image(encode_image(Image.fromarray(pixels), "JPEG", quality=95), spec)

    assert np.abs(result.astype(int) - expected).max() < 12


@pytest.mark.parametrize("orientation", range(1, 9))
def test_preprocess_image_applies_exif_orientation(encode_image, orientation):
    stored = _quadrants(480, 240)  # big enough for the JPEG draft (reduced-scale) decode to kick in
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = stored.copy()
    tagged.getexif()[0x0112] = orientation
    displayed = ImageOps.exif_transpose(tagged)
    spec = ImageFeatures(height=32, width=32)
    expected = preprocess_image(encode_image(displayed, "PNG"), spec).astype(int)

    result = preprocess_image(encode_image(stored, "JPEG", quality=95, exif=exif.tobytes()), spec)

    assert np.abs(result.astype(int) - expected).mean() < 6


def test_preprocess_image_composites_alpha_on_white(encode_image, rgb_spec):
    rgba = np.zeros((32, 32, 4), dtype=np.uint8)
    rgba[:, 16:] = (0, 0, 0, 255)  # opaque black on the right, fully transparent black on the left

    result = preprocess_image(encode_image(Image.fromarray(rgba), "PNG"), rgb_spec)

    assert (result[:, :16] == 255).all()
    assert (result[:, 16:] == 0).all()


def test_preprocess_image_half_transparent_black_is_mid_grey(encode_image, gray_spec):
    spec = gray_spec.model_copy(update={"polarity": "as_is"})
    la = np.zeros((28, 28, 2), dtype=np.uint8)
    la[..., 1] = 128

    result = preprocess_image(encode_image(Image.fromarray(la, "LA"), "PNG"), spec)

    assert np.abs(result.astype(int) - 127).max() <= 1


def test_preprocess_image_palette_transparency_becomes_white(encode_image, rgb_spec):
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([0, 0, 0, 200, 0, 0])
    palette.paste(1, (0, 0, 32, 16))
    data = encode_image(palette, "PNG", transparency=0)

    result = preprocess_image(data, rgb_spec)

    assert (result[:16] == (200, 0, 0)).all()
    assert (result[16:] == 255).all()


def test_preprocess_image_gif_uses_first_frame(encode_image, rgb_spec):
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((200, 0, 0), (0, 0, 200))]
    data = encode_image(frames[0], "GIF", save_all=True, append_images=frames[1:])

    result = preprocess_image(data, rgb_spec)

    assert (result == (200, 0, 0)).all()


def test_preprocess_image_scales_16_bit_samples(encode_image, glyph, gray_spec):
    wide = Image.fromarray(glyph.astype(np.uint16) * 257)
    assert wide.mode.startswith("I;16")

    result = preprocess_image(encode_image(wide, "PNG"), gray_spec)

    np.testing.assert_array_equal(result, preprocess_image_array(glyph, gray_spec))


def test_preprocess_image_converts_cmyk(encode_image, rgb_spec):
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in ink

    result = preprocess_image(encode_image(cmyk, "TIFF"), rgb_spec)

    assert (result == (255, 0, 0)).all()


def test_preprocess_image_grayscale_input_for_rgb_model_repeats_channels(encode_image, glyph, rgb_spec):
    result = preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), rgb_spec)

    np.testing.assert_array_equal(result[..., 0], result[..., 1])
    np.testing.assert_array_equal(result[..., 0], result[..., 2])


def test_preprocess_image_rgb_input_for_grayscale_model_uses_luma(encode_image):
    spec = ImageFeatures(height=4, width=4, color_mode="grayscale")
    colour = Image.new("RGB", (4, 4), (255, 0, 0))

    result = preprocess_image(encode_image(colour, "PNG"), spec)

    assert result.shape == (4, 4, 1)
    assert (result == round(0.299 * 255)).all()


def test_preprocess_image_one_pixel_fills_target(encode_image, rgb_spec):
    result = preprocess_image(encode_image(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"), rgb_spec)

    assert (result == (10, 20, 30)).all()


@pytest.mark.parametrize("size", [(2000, 1), (1, 2000), (3000, 7)])
def test_preprocess_image_extreme_aspect_ratio_is_centred_and_padded(encode_image, rgb_spec, size):
    line = Image.new("RGB", size, (0, 0, 0))
    line.paste((200, 50, 50), (0, 0, size[0], size[1]))

    result = preprocess_image(encode_image(line, "PNG"), rgb_spec)

    assert result.shape == (32, 32, 3)
    assert (result[16, 16] == (200, 50, 50)).all()
    assert (result[0, 0] == (200, 50, 50)).all()  # the border of a uniform image is its colour


def test_preprocess_image_pads_with_background_not_black(encode_image, glyph):
    spec = ImageFeatures(height=32, width=64, color_mode="grayscale")  # wide: pads left and right

    result = preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), spec)

    assert (result[:, :8] == 230).all()
    assert (result[:, -8:] == 230).all()
    assert result.min() < 60  # the stroke survived


def test_preprocess_image_polarity_makes_inverted_inputs_identical(encode_image, glyph, gray_spec):
    dark_on_light = preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), gray_spec)
    light_on_dark = preprocess_image(encode_image(Image.fromarray(255 - glyph), "PNG"), gray_spec)

    np.testing.assert_array_equal(dark_on_light, light_on_dark)
    assert dark_on_light[0, 0, 0] < 50  # dark background
    assert dark_on_light.max() > 200  # light strokes


def test_preprocess_image_polarity_as_is_keeps_colours(encode_image, glyph, gray_spec):
    spec = gray_spec.model_copy(update={"polarity": "as_is"})

    dark_on_light = preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), spec)
    light_on_dark = preprocess_image(encode_image(Image.fromarray(255 - glyph), "PNG"), spec)

    assert dark_on_light[0, 0, 0] == 230
    assert light_on_dark[0, 0, 0] == 25
    # resampling rounds, so the two are mirror images only up to one level
    assert np.abs(dark_on_light.astype(int) - (255 - light_on_dark.astype(int))).max() <= 1


@pytest.mark.parametrize(
    ("width", "height"),
    [(8000, 6000), (10_000, 10_000), (60_000, 60_000)],
    ids=["over-our-limit", "over-pillow-warning", "over-pillow-error"],
)
def test_preprocess_image_huge_header_refused_before_decoding(rgb_spec, width, height):
    # No pixel data follows the header: reaching the decoder would raise UndecodableInput instead.
    with pytest.raises(InputTooLarge):
        preprocess_image(_png_header_only(width, height), rgb_spec)


def test_preprocess_image_over_configured_limit_refused(encode_image, glyph, rgb_spec):
    with pytest.raises(InputTooLarge):
        preprocess_image(encode_image(Image.fromarray(glyph), "PNG"), rgb_spec, InputLimits(max_image_pixels=100))


@pytest.mark.parametrize("size", [(8000, 6000), (65535, 65535)])
def test_preprocess_image_huge_gif_refused_before_decoding(rgb_spec, size):
    screen = b"GIF89a" + struct.pack("<HHBBB", *size, 0, 0, 0)
    frame = b"," + struct.pack("<HHHHB", 0, 0, *size, 0) + b"\x08\x03abc\x00"

    with pytest.raises(InputTooLarge):
        preprocess_image(screen + frame + b";", rgb_spec)


def _garbage_payloads() -> list[object]:
    rng = np.random.default_rng(7)
    png = _png_header_only(4, 4)
    return [
        b"",
        b"\x00",
        rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        png,  # header, no pixels
        png[:20],
        b"\xff\xd8\xff\xe0" + bytes(200),  # JPEG start, junk after
        b"GIF89a\x04\x00\x04\x00",  # GIF header cut short
        b"BM" + bytes(60),
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS is not on the allowlist
        b"RIFF\x24\x00\x00\x00WAVEfmt ",
        "an image, honest",
        None,
    ]


@pytest.mark.parametrize("payload", _garbage_payloads())
def test_preprocess_image_garbage_is_undecodable(rgb_spec, payload):
    with pytest.raises(UndecodableInput):
        preprocess_image(payload, rgb_spec)


def test_preprocess_image_truncated_files_are_undecodable(encode_image, rgb_spec):
    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    for format in ("PNG", "JPEG", "WEBP", "TIFF", "BMP"):
        data = encode_image(noise, format)
        with pytest.raises(UndecodableInput):
            preprocess_image(data[: len(data) // 2], rgb_spec)


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((4, 4), dtype=np.float32), np.zeros((4, 4, 2), dtype=np.uint8), np.zeros((0, 4), dtype=np.uint8)],
    ids=["float", "two-channels", "empty"],
)
def test_preprocess_image_array_refuses_bad_arrays(rgb_spec, pixels):
    with pytest.raises(UndecodableInput):
        preprocess_image_array(pixels, rgb_spec)


@given(
    pixels=hnp.arrays(np.uint8, st.tuples(st.integers(1, 300), st.sampled_from([1, 3]))),
)
@settings(max_examples=300, deadline=None)
def test_the_border_median_equals_numpys(pixels):
    # The background colour and the polarity check use a sort-based median; a bit of difference would
    # change model inputs, so it must equal np.median in value and dtype for both kinds of input.
    from features.image import _luminance, _median

    by_channel = _median(pixels)
    expected = np.median(pixels, axis=0)
    assert by_channel.dtype == expected.dtype
    assert np.array_equal(by_channel, expected)
    luminance = _luminance(pixels[np.newaxis])[0]
    assert _median(luminance) == np.median(luminance)
    assert np.asarray(_median(luminance)).dtype == np.asarray(np.median(luminance)).dtype
