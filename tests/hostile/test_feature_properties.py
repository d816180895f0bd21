"""Property-based tests of the feature functions: for any input, a well-formed model input or a FeatureError.

Hypothesis draws arbitrary bytes, valid files with flipped or cut bytes, arbitrary pixel arrays and
WAV parameters, and arbitrary text; the feature functions must never raise anything but
``FeatureError`` and never return a wrong shape, dtype, out-of-vocabulary id or non-finite value.
"""

from __future__ import annotations

import numpy as np
from hostile_corpus import encode, raw_wav, wav_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from features import preprocess, preprocess_image, preprocess_image_array
from features.errors import FeatureError
from features.spec import AudioFeatures, ImageFeatures, TextFeatures

IMAGE = ImageFeatures(height=28, width=28, color_mode="grayscale", polarity="light_on_dark")
RGB = ImageFeatures(height=16, width=24, color_mode="rgb")
AUDIO = AudioFeatures(sample_rate=16_000, clip_seconds=0.5)
TEXT = TextFeatures(vocabulary=("<pad>", "<unk>", "a", "b", "é"), sequence_length=12)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _valid_or_feature_error(raw, spec):
    try:
        result = preprocess(raw, spec)
    except FeatureError:
        return None
    assert result.shape == spec.input_shape
    assert result.dtype == np.dtype(spec.input_dtype)
    assert np.isfinite(result.astype(np.float64)).all()
    return result


_pixels = arrays(
    np.uint8,
    st.tuples(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3, 4])),
)
_image_files = st.builds(
    lambda pixels, fmt: encode(Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels), fmt),
    _pixels,
    st.sampled_from(["PNG", "BMP", "TIFF", "GIF", "WEBP"]),
).filter(bool)


@PROPERTY
@given(st.binary(max_size=2_000))
def test_any_bytes_are_an_image_or_a_feature_error(data):
    _valid_or_feature_error(data, IMAGE)


@PROPERTY
@given(_image_files, st.data())
def test_damaged_image_files_are_an_image_or_a_feature_error(data, draw):
    cut = draw.draw(st.integers(0, len(data)))
    flips = draw.draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=8))
    damaged = bytearray(data[:cut] if draw.draw(st.booleans()) else data)
    for position, value in flips:
        if position < len(damaged):
            damaged[position] = value
    _valid_or_feature_error(bytes(damaged), IMAGE)
    _valid_or_feature_error(bytes(damaged), RGB)


@PROPERTY
@given(_pixels)
def test_a_png_and_its_array_give_the_same_input(pixels):
    array = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    from_file = preprocess_image(encode(Image.fromarray(array), "PNG"), RGB)
    np.testing.assert_array_equal(from_file, preprocess_image_array(array, RGB))


@PROPERTY
@given(st.binary(max_size=2_000))
def test_any_bytes_are_audio_or_a_feature_error(data):
    _valid_or_feature_error(data, AUDIO)


@PROPERTY
@given(
    rate=st.integers(0, 200_000),
    channels=st.integers(0, 300),
    bits=st.sampled_from([0, 8, 16, 24, 32, 12]),
    data=st.binary(max_size=4_000),
    data_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    riff_size=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
)
def test_wav_headers_that_lie_are_audio_or_a_feature_error(rate, channels, bits, data, data_size, riff_size):
    wav = raw_wav(rate=rate, channels=channels, bits=bits, data=data, data_size=data_size, riff_size=riff_size)
    _valid_or_feature_error(wav, AUDIO)


@PROPERTY
@given(
    arrays(np.float32, st.integers(1, 3_000), elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
    st.sampled_from([8_000, 11_025, 16_000, 22_050, 44_100, 48_000]),
)
def test_float_wavs_of_any_values_give_finite_inputs(samples, rate):
    assert _valid_or_feature_error(wav_bytes(samples, rate, "FLOAT"), AUDIO) is not None


@PROPERTY
@given(st.text(max_size=300))
def test_any_text_is_token_ids_or_a_feature_error(text):
    ids = _valid_or_feature_error(text, TEXT)
    if ids is not None:
        assert ((ids >= 0) & (ids < len(TEXT.vocabulary))).all()
