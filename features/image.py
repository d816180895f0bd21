"""Image features: an image file (or a pixel array) -> ``uint8`` array of ``spec.input_shape`` (H, W, C).

The pipeline, identical at training and serving time:

1. Identify the file among :data:`IMAGE_FORMATS` and read its header only; more than
   ``limits.max_image_pixels`` pixels (``max_rle_bmp_pixels`` for an RLE BMP; the real size of
   each icon of an ICO) is refused before any pixel is decoded (:mod:`features.image_headers`).
2. Decode the first frame. A JPEG much larger than the target is decoded at a reduced DCT scale
   (``Image.draft``, 1/2 to 1/8), which is several times faster and still at least target size.
3. Apply the EXIF orientation (tag 274, the transform ``ImageOps.exif_transpose`` applies).
4. Flatten to 8-bit ``L`` or ``RGB``. Transparency is composited on **white**, the way a
   transparent image looks on a page. 16- and 32-bit integer samples are scaled from 0..65535,
   float samples from 0..1. Palette, CMYK, YCbCr and the rest are converted by Pillow, without
   ICC colour management.
5. Convert to ``spec.color_mode`` (luma ``L = 0.299 R + 0.587 G + 0.114 B``).
6. With ``spec.polarity == "light_on_dark"``, invert the image when its background (the median
   luminance of its border pixels) is lighter than its mean luminance, so dark ink on light
   paper and light strokes on a dark screen give the same input.
7. Fit into ``width x height`` keeping the aspect ratio (antialiased bilinear resampling) and
   centre it on a canvas of the background colour: the per-channel median of the resized
   image's border pixels. Padding thus continues the background instead of looking like ink.
"""

from __future__ import annotations

import io
import math
from functools import cache

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageChops

from features._decoding import as_bytes, decoder_errors
from features.errors import InputTooLarge, UndecodableInput
from features.image_headers import ICO_MAGIC, check_opened, ico_pixels, image_pixels
from features.limits import InputLimits
from features.spec import ImageFeatures

#: Formats Pillow may try, in this order. Formats that need an outside interpreter (EPS through
#: Ghostscript) or that have no magic number to identify them (TGA) are deliberately left out.
IMAGE_FORMATS: tuple[str, ...] = (
    "JPEG",
    "PNG",
    "GIF",
    "BMP",
    "WEBP",
    "TIFF",
    "MPO",
    "PPM",
    "ICO",
    "JPEG2000",
)

_UNREADABLE = f"not a readable image (expected one of: {', '.join(IMAGE_FORMATS)})"
_TRANSPOSE_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
#: Formats whose getexif() reads no pixels and whose decoder can scale down (``Image.draft``).
_DRAFT_FORMATS = frozenset({"JPEG", "MPO"})
_INTEGER_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"LA", "La", "PA", "RGBA", "RGBa"})
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: The polarity decision averages at most about this many pixels (a regular subsample).
_POLARITY_SAMPLE = 65_536

Pixels = npt.NDArray[np.uint8]


def preprocess_image(data: bytes, spec: ImageFeatures, limits: InputLimits | None = None) -> Pixels:
    """Decode an image file and turn it into the model input for ``spec``.

    Args:
        data: The file's bytes, any of :data:`IMAGE_FORMATS` (first frame of animations).
        spec: The image feature spec of the model version.
        limits: Bounds on the input; the defaults of :class:`InputLimits` when omitted.

    Returns:
        A new C-contiguous ``uint8`` array of shape ``spec.input_shape``.

    Raises:
        UndecodableInput: ``data`` is not bytes, is empty, or is not a readable image.
        InputTooLarge: the header announces more than ``limits.max_image_pixels`` pixels.
    """
    payload = as_bytes(data, "image")
    limits = limits or InputLimits()
    with decoder_errors(_UNREADABLE):
        image = _decode(payload, spec, limits)
        return _finish(image, spec)


def preprocess_image_array(pixels: npt.ArrayLike, spec: ImageFeatures) -> Pixels:
    """The same preprocessing for pixels already in memory (datasets shipped as arrays).

    Steps 4 to 7 of the module's pipeline apply, so an array and the PNG of that array give
    identical results.

    Args:
        pixels: ``uint8`` of shape ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB) or
            ``(H, W, 4)`` (RGBA, composited on white).
        spec: The image feature spec of the model version.

    Raises:
        UndecodableInput: the array has another dtype or shape, or no pixels.
    """
    array = np.asarray(pixels)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))
    if array.dtype != np.uint8 or not shape_ok or array.size == 0:
        raise UndecodableInput(f"pixels must be non-empty uint8 (H, W[, 1|3|4]), not {array.dtype} {array.shape}")
    return _finish(Image.fromarray(np.ascontiguousarray(array)), spec)


def measure_image(data: bytes, limits: InputLimits | None = None) -> int:
    """Pixels the file will decode to, from its headers only (0 if unreadable); InputTooLarge past a limit."""
    return image_pixels(as_bytes(data, "image"), _formats(), limits or InputLimits())


@cache
def _formats() -> tuple[str, ...]:
    # Image.open raises KeyError for a format this Pillow build lacks, so offer only those it has.
    Image.init()
    return tuple(name for name in IMAGE_FORMATS if name in Image.OPEN)


def _decode(data: bytes, spec: ImageFeatures, limits: InputLimits) -> Image.Image:
    """Steps 1 to 4: header check, (draft) decode, orientation, flatten to ``L`` or ``RGB``."""
    if data.startswith(ICO_MAGIC):
        ico_pixels(data, limits)  # Image.open decodes an ICO, so its real sizes are checked first
    try:
        with Image.open(io.BytesIO(data), formats=_formats()) as image:
            check_opened(image, limits)
            if image.format in _DRAFT_FORMATS:
                _request_draft(image, spec, _orientation(image))
            image.load()
            # Read only now: for some formats (PNG) getexif() itself decodes the whole image.
            orientation = _orientation(image)
            decoded: Image.Image = image
            if orientation in _TRANSPOSE_FOR_ORIENTATION:
                decoded = decoded.transpose(_TRANSPOSE_FOR_ORIENTATION[orientation])
            return _flatten(decoded)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (about 89 MP warns, 179 MP fails) fires inside Image.open, before
        # our check can; a warning only arrives here as an exception when warnings are errors.
        raise InputTooLarge("image is over Pillow's decompression-bomb limit") from exc


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation (1..8); 1 when absent or unreadable."""
    try:
        value = image.getexif().get(ExifTags.Base.Orientation, 1)
    except Exception:  # a corrupt EXIF block does not make the pixels unreadable
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _request_draft(image: Image.Image, spec: ImageFeatures, orientation: int) -> None:
    """Ask the JPEG decoder for the smallest DCT scale still at least the fitted target size.

    The target is computed in the displayed orientation and mapped
    back to the stored one (orientations 5 to 8 swap width and height).
    """
    swapped = orientation >= 5
    width, height = image.size
    if swapped:
        width, height = height, width
    scale = min(1.0, spec.width / width, spec.height / height)
    target = (math.ceil(width * scale), math.ceil(height * scale))
    if swapped:
        target = (target[1], target[0])
    # Asking for "L" makes libjpeg hand over the luma plane and skip colour conversion.
    image.draft("L" if spec.color_mode == "grayscale" else None, target)


def _flatten(image: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit ``L`` or ``RGB`` (step 4)."""
    mode = image.mode
    if mode in ("L", "RGB"):
        return image
    if mode in _INTEGER_MODES:
        wide = np.clip(np.asarray(image), 0, 65_535).astype(np.uint32)
        return Image.fromarray(((wide * 255 + 32_767) // 65_535).astype(np.uint8))
    if mode == "F":
        floats = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        return Image.fromarray(np.rint(np.clip(floats, 0.0, 1.0) * 255).astype(np.uint8))
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in image.info):
        return _on_white(image)
    return image.convert("L" if mode == "1" else "RGB")


def _on_white(image: Image.Image) -> Image.Image:
    base = "L" if image.mode in ("LA", "La") else "RGB"
    with_alpha = image.convert(base + "A")
    canvas = Image.new(base, image.size, "white")
    canvas.paste(with_alpha.convert(base), mask=with_alpha.getchannel("A"))
    return canvas


def _finish(image: Image.Image, spec: ImageFeatures) -> Pixels:
    """Steps 5 to 7 on an 8-bit ``L`` or ``RGB`` image."""
    image = _flatten(image)
    wanted = "L" if spec.color_mode == "grayscale" else "RGB"
    if image.mode != wanted:
        image = image.convert(wanted)
    if spec.polarity == "light_on_dark" and _is_dark_on_light(_hwc(image)):
        image = ImageChops.invert(image)  # 255 - x in C; ImageOps.invert builds and rounds a 256-entry table in Python
    return _fit(image, spec)


def _hwc(image: Image.Image) -> Pixels:
    """A read-only ``(H, W, C)`` view of an ``L`` or ``RGB`` image's pixels."""
    pixels: Pixels = np.asarray(image)
    return pixels.reshape(image.height, image.width, len(image.getbands()))


def _border(pixels: Pixels) -> Pixels:
    """The outermost ring of pixels of ``(H, W, C)``, as ``(N, C)``."""
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])


def _median(values: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    """``np.median(values, axis=0)``, the same values and dtype (the middle one, or the mean of the two middle
    ones: float64 for integers, the input's precision for floats), by one sort: np.median's dispatch cost
    ~35 us on the few hundred values of a border, several times the sort."""
    ordered = np.sort(values, axis=0)
    half = len(ordered) // 2
    floats = ordered.dtype.kind == "f"
    if len(ordered) % 2:
        middle: npt.NDArray[np.generic] = ordered[half] if floats else ordered[half].astype(np.float64)
        return middle
    low = ordered[half - 1] if floats else ordered[half - 1].astype(np.float64)
    mean: npt.NDArray[np.generic] = (low + ordered[half]) / 2
    return mean


def _luminance(pixels: Pixels) -> npt.NDArray[np.float32]:
    if pixels.shape[-1] == 1:
        return pixels[..., 0].astype(np.float32)
    luma: npt.NDArray[np.float32] = pixels.astype(np.float32) @ _LUMA
    return luma


def _is_dark_on_light(pixels: Pixels) -> bool:
    """Whether the background (border median) is lighter than the image on average."""
    height, width = pixels.shape[:2]
    step = max(1, math.ceil(math.sqrt(height * width / _POLARITY_SAMPLE)))
    background = float(_median(_luminance(_border(pixels))))
    return background > float(_luminance(pixels[::step, ::step]).mean())


def _fit(image: Image.Image, spec: ImageFeatures) -> Pixels:
    """Resize into the target keeping the aspect ratio, centre on a background-coloured canvas."""
    scale = min(spec.width / image.width, spec.height / image.height)
    width = min(spec.width, max(1, round(image.width * scale)))
    height = min(spec.height, max(1, round(image.height * scale)))
    if (width, height) != image.size:
        image = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    pixels = _hwc(image)
    canvas = np.empty(spec.input_shape, dtype=np.uint8)
    canvas[...] = np.rint(_median(_border(pixels))).astype(np.uint8)
    top = (spec.height - height) // 2
    left = (spec.width - width) // 2
    canvas[top : top + height, left : left + width] = pixels
    return canvas
