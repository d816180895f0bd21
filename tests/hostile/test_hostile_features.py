"""The hostile corpus through the feature functions: a model input of the right shape, or a FeatureError.

Nothing else may escape (no ``OSError``, ``struct.error``, ``MemoryError``), and the bombs and lies
of issue 10 are refused as too large before they are decoded.
"""

from __future__ import annotations

import numpy as np
import pytest
from hostile_corpus import audio_corpus, ico_wrapping, image_corpus, png_bomb, raw_wav, rle8_bmp, text_corpus

from features import check_request_budget, measure_audio, measure_image, preprocess
from features.errors import FeatureError, InputTooLarge
from features.limits import InputLimits

IMAGES = dict(image_corpus())
AUDIO = dict(audio_corpus())
TEXTS = dict(text_corpus())


def _outcome(payload, spec):
    try:
        result = preprocess(payload, spec)
    except FeatureError as exc:
        return type(exc).__name__
    assert result.shape == spec.input_shape
    assert result.dtype == np.dtype(spec.input_dtype)
    assert np.isfinite(result.astype(np.float64)).all()
    return "ok"


@pytest.mark.parametrize("name", sorted(IMAGES))
def test_hostile_image_is_a_model_input_or_a_feature_error(name, image_spec, rgb_spec):
    for spec in (image_spec, rgb_spec):
        assert _outcome(IMAGES[name], spec) in ("ok", "UndecodableInput", "InputTooLarge")


@pytest.mark.parametrize("name", sorted(AUDIO))
def test_hostile_audio_is_a_model_input_or_a_feature_error(name, audio_spec):
    assert _outcome(AUDIO[name], audio_spec) in ("ok", "UndecodableInput", "InputTooLarge")


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_hostile_text_is_a_model_input_or_a_feature_error(name, text_spec):
    assert _outcome(TEXTS[name], text_spec) in ("ok", "UndecodableInput", "InputTooLarge")


@pytest.mark.parametrize(
    "name",
    [
        "png-header-100000x100000",
        "ico-lying-about-png-13000",
        "bmp-rle8-6324",
        "bmp-header-50000x50000",
        "gif-screen-65535x65535",
        "tiff-header-huge",
        "jpeg-sof-65000x65000",
        "ico-rle-dib",
    ],
)
def test_image_bomb_is_refused_as_too_large(name, image_spec):
    with pytest.raises(InputTooLarge):
        preprocess(IMAGES[name], image_spec)


def test_ico_is_measured_by_its_embedded_png_not_its_directory(image_spec):
    # Base commit: the directory's 256 x 256 passed the check and Pillow decoded all 9 megapixels.
    lie = ico_wrapping(png_bomb(3_000, 3_000, complete=False))
    limits = InputLimits(max_image_pixels=1_000_000)
    with pytest.raises(InputTooLarge, match="icon 0"):
        preprocess(lie, image_spec, limits)
    assert measure_image(lie) == 9_000_000


def test_rle_bmp_has_its_own_small_limit(image_spec):
    # Base commit: decoded in Pillow's pure-Python RLE decoder however large (9 s for 6,324 x 6,324).
    with pytest.raises(InputTooLarge, match="run-length"):
        preprocess(rle8_bmp(600, 600), image_spec)
    assert preprocess(rle8_bmp(64, 64), image_spec).shape == image_spec.input_shape


def test_wav_whose_frame_count_lies_decodes_what_is_there(audio_spec):
    tone = (0.5 * np.sin(np.arange(8_000) / 3) * 32767).astype("<i2").tobytes()
    # The data chunk claims 10 s but holds 0.5 s: libsndfile stops at the end of the file.
    lying = raw_wav(data=tone, data_size=16_000 * 2 * 10)
    honest = raw_wav(data=tone)
    np.testing.assert_array_equal(preprocess(lying, audio_spec), preprocess(honest, audio_spec))


def test_wav_with_many_channels_and_a_lying_length_stays_small(audio_spec):
    # 1,024 channels and a data chunk claiming 2 GB: the block read is sized by channels.
    payload = AUDIO["channels-1024-lying-frames"]
    assert _outcome(payload, audio_spec) in ("ok", "UndecodableInput", "InputTooLarge")


def test_request_budget_counts_pixels_of_all_images(image_spec):
    image = png_bomb(2_000, 2_000, complete=False)  # 4 megapixels each, headers only
    limits = InputLimits(max_image_pixels=5_000_000, max_request_image_pixels=10_000_000)
    check_request_budget([image, image], image_spec, limits)
    with pytest.raises(InputTooLarge, match="12000000 decoded pixels"):
        check_request_budget([image, image, image], image_spec, limits)


def test_request_budget_counts_audio_samples_and_text_characters(audio_spec, text_spec):
    wav = raw_wav(channels=2, data=b"\x00\x00" * 2 * 16_000)  # 1 s of stereo: 32,000 samples
    assert measure_audio(wav) == 32_000
    limits = InputLimits(max_audio_seconds=10, max_request_audio_samples=960_000)
    check_request_budget([wav] * 30, audio_spec, limits)
    with pytest.raises(InputTooLarge, match="audio samples"):
        check_request_budget([wav] * 31, audio_spec, limits)
    text_limits = InputLimits(max_text_chars=10, max_request_text_chars=20)
    with pytest.raises(InputTooLarge, match="21 characters"):
        check_request_budget(["a" * 10, "b" * 10, "c"], text_spec, text_limits)


def test_request_budget_leaves_unreadable_inputs_to_preprocessing(image_spec):
    check_request_budget([b"not an image", "a text", b""], image_spec, InputLimits())


def test_request_budgets_must_hold_one_input():
    with pytest.raises(ValueError, match="max_request_image_pixels"):
        InputLimits(max_image_pixels=100, max_request_image_pixels=99)
