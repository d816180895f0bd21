"""The package API: ``preprocess`` dispatches on modality and refuses wrong input types."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import features
from features import (
    InputLimits,
    InputTooLarge,
    ModelSpec,
    UndecodableInput,
    preprocess,
    preprocess_audio,
    preprocess_image,
    preprocess_text,
)


def test_preprocess_dispatches_each_modality(
    encode_image, encode_wav, make_tone, glyph, gray_spec, text_spec, audio_spec
):
    png = encode_image(Image.fromarray(glyph), "PNG")
    wav = encode_wav(make_tone(440, 16_000, 1.0), 16_000)

    np.testing.assert_array_equal(preprocess(png, gray_spec), preprocess_image(png, gray_spec))
    np.testing.assert_array_equal(preprocess("hello world", text_spec), preprocess_text("hello world", text_spec))
    np.testing.assert_array_equal(preprocess(wav, audio_spec), preprocess_audio(wav, audio_spec))


def test_preprocess_accepts_a_model_spec(encode_image, glyph, gray_spec):
    spec = ModelSpec(name="digits", labels=("0", "1"), features=gray_spec)
    png = encode_image(Image.fromarray(glyph), "PNG")

    result = preprocess(png, spec)

    assert result.shape == spec.features.input_shape
    assert result.dtype == np.dtype(spec.features.input_dtype)


def test_preprocess_passes_limits_through(text_spec):
    with pytest.raises(InputTooLarge):
        preprocess("hello world", text_spec, InputLimits(max_text_chars=5))


@pytest.mark.parametrize("spec_name", ["gray_spec", "audio_spec"])
def test_preprocess_string_for_binary_model_is_undecodable(request, spec_name):
    with pytest.raises(UndecodableInput, match="bytes"):
        preprocess("not a file", request.getfixturevalue(spec_name))


def test_preprocess_bytes_for_text_model_is_undecodable(text_spec):
    with pytest.raises(UndecodableInput, match="string"):
        preprocess(b"hello", text_spec)


@pytest.mark.parametrize("spec_name", ["gray_spec", "rgb_spec", "audio_spec", "text_spec"])
@pytest.mark.parametrize("seed", range(5))
def test_preprocess_random_input_only_raises_feature_errors(request, spec_name, seed):
    rng = np.random.default_rng(seed)
    payload = rng.integers(0, 256, int(rng.integers(0, 2000)), dtype=np.uint8).tobytes()
    raw: bytes | str = payload.decode("latin-1") if spec_name == "text_spec" else payload
    try:
        result = preprocess(raw, request.getfixturevalue(spec_name))
    except features.FeatureError:
        return
    assert np.isfinite(result).all()


def test_package_exports_its_api():
    assert set(features.__all__) <= set(dir(features))
