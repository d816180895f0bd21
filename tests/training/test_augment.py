"""Training-only augmentation: shapes and dtypes kept, samples varied, labels untouched."""

from __future__ import annotations

import numpy as np
import pytest

from features.spec import AudioFeatures, ImageFeatures, TextFeatures
from training.augment import AudioAugment, Augmenter, ImageAugment, TextAugment, default_recipe
from training.loading import Arrays


def _batches(augmenter: Augmenter, arrays: Arrays) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in augmenter.dataset(arrays, batch_size=8, seed=3)], strict=True)
    return np.concatenate(xs), np.concatenate(ys)


def test_image_augmentation_keeps_uint8_shape_and_moves_pixels():
    features = ImageFeatures(height=16, width=16, color_mode="grayscale")
    x = np.zeros((16, 16, 16, 1), dtype=np.uint8)
    x[:, 4:12, 6:10] = 255
    arrays = Arrays(x, np.arange(16, dtype=np.int64) % 2)

    out, y = _batches(Augmenter(ImageAugment(), features), arrays)

    assert out.dtype == np.uint8 and out.shape == x.shape
    assert sorted(y.tolist()) == sorted(arrays.y.tolist())
    assert (out != x).any(axis=(1, 2, 3)).sum() >= 12


def test_text_augmentation_truncates_and_drops_only_real_tokens():
    features = TextFeatures(vocabulary=("<pad>", "<unk>", *(f"w{i}" for i in range(50))), sequence_length=60)
    x = np.zeros((64, 60), dtype=np.int32)
    x[:, :50] = np.arange(2, 52)
    recipe = TextAugment(p_truncate=0.5, min_tokens=4, max_tokens=10, dropout=0.1)

    out, _ = _batches(Augmenter(recipe, features), Arrays(x, np.zeros(64, dtype=np.int64)))

    assert out.dtype == np.int32 and out.shape == x.shape
    assert (out[:, 50:] == 0).all()  # padding stays padding
    lengths = (out != 0).sum(axis=1)
    assert (lengths <= 10).sum() >= 16 and (lengths == 50).sum() >= 16
    assert (out == 1).any() and ((out == x) | (out == 1) | (out == 0)).all()


def test_audio_augmentation_keeps_shape_and_finite_values():
    features = AudioFeatures()
    rng = np.random.default_rng(0)
    x = rng.normal(-5, 2, size=(16, *features.input_shape)).astype(np.float32)

    out, _ = _batches(Augmenter(AudioAugment(p=1.0), features), Arrays(x, np.zeros(16, dtype=np.int64)))

    assert out.dtype == np.float32 and out.shape == x.shape
    assert np.isfinite(out).all()
    assert (np.abs(out - x) > 1e-3).mean() > 0.2


def test_default_recipe_matches_the_modality():
    assert isinstance(default_recipe(AudioFeatures()), AudioAugment)
    with pytest.raises(ValueError, match="does not apply"):
        Augmenter(ImageAugment(), AudioFeatures()).dataset(
            Arrays(np.zeros((1, 98, 40), np.float32), np.zeros(1, np.int64)), batch_size=1, seed=0
        )


def _audio(recipe: AudioAugment, x: np.ndarray, seed: int = 3) -> np.ndarray:
    augmenter = Augmenter(recipe, AudioFeatures())
    data = augmenter.dataset(Arrays(x, np.zeros(len(x), dtype=np.int64)), batch_size=len(x), seed=seed)
    return np.concatenate([batch.numpy() for batch, _ in data])


_NOTHING_ELSE = {"p": 0.0, "time_masks": 0, "freq_masks": 0, "p_telephone": 0.0, "p_reverb": 0.0}


def test_telephone_channel_silences_bands_above_4khz_and_keeps_the_speech_band():
    features = AudioFeatures()
    x = np.full((4, *features.input_shape), -2.0, dtype=np.float32)

    out = _audio(AudioAugment(**{**_NOTHING_ELSE, "p_telephone": 1.0}), x)

    assert out.dtype == np.float32 and out.shape == x.shape
    from features.audio import hz_to_mel, mel_to_hz

    centres = mel_to_hz(np.linspace(hz_to_mel(features.fmin), hz_to_mel(features.fmax), features.n_mels + 2))[1:-1]
    floor = np.log(features.log_floor)
    np.testing.assert_allclose(out[:, :, centres > 4_000], floor, atol=1e-3)  # as after resampling to 8 kHz
    speech_band = (centres > 600) & (centres < 2_500)
    np.testing.assert_allclose(out[:, :, speech_band], -2.0, atol=0.05)
    assert (out[:, :, centres < 100] < -4).all()


def test_reverberation_smears_energy_into_later_frames_only():
    features = AudioFeatures()
    x = np.full((4, *features.input_shape), np.log(features.log_floor), dtype=np.float32)
    x[:, 40:43, :] = 0.0  # a click at frames 40-42 in every band

    out = _audio(AudioAugment(**{**_NOTHING_ELSE, "p_reverb": 1.0}), x)

    assert out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out[:, :40], x[:, :40], atol=1e-4)  # nothing before the sound
    assert (out[:, 45] > x[:, 45] + 1.0).all()  # a decaying tail after it
    assert (out[:, 44] >= out[:, 60] - 1e-4).all()


def test_audio_augmentation_is_deterministic_for_a_seed():
    rng = np.random.default_rng(1)
    x = rng.normal(-5, 2, size=(8, *AudioFeatures().input_shape)).astype(np.float32)
    recipe = AudioAugment(p=0.5, p_telephone=0.5, p_reverb=0.5)

    first, second, other = _audio(recipe, x, seed=5), _audio(recipe, x, seed=5), _audio(recipe, x, seed=6)

    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)


def test_text_augmentation_with_ngrams_drops_only_token_ids_and_never_truncates():
    features = TextFeatures(
        vocabulary=("<pad>", "<unk>", *(f"w{i}" for i in range(50))),
        sequence_length=20,
        char_ngram_sizes=(3,),
        char_ngram_buckets=64,
        char_ngram_length=20,
    )
    x = np.zeros((32, 40), dtype=np.int32)
    x[:, :20] = np.arange(2, 22)
    x[:, 20:] = np.arange(52, 72)

    out, _ = _batches(Augmenter(TextAugment(p_truncate=1.0, dropout=0.3), features), Arrays(x, np.zeros(32, np.int64)))

    assert out.dtype == np.int32 and out.shape == x.shape
    np.testing.assert_array_equal(out[:, 20:], x[:, 20:])  # n-gram ids untouched
    assert ((out[:, :20] == x[:, :20]) | (out[:, :20] == 1)).all() and (out[:, :20] == 1).any()


def test_text_windows_are_runs_of_the_text_from_anywhere_moved_to_the_front():
    features = TextFeatures(vocabulary=("<pad>", "<unk>", *(f"w{i}" for i in range(50))), sequence_length=60)
    x = np.zeros((64, 60), dtype=np.int32)
    x[:, :50] = np.arange(2, 52)
    recipe = TextAugment(p_truncate=0.0, p_window=0.5, min_tokens=4, max_tokens=10, dropout=0.0)

    out, _ = _batches(Augmenter(recipe, features), Arrays(x, np.zeros(64, dtype=np.int64)))

    lengths = (out != 0).sum(axis=1)
    cropped = out[lengths <= 10]
    assert len(cropped) >= 16 and (lengths == 50).sum() >= 16
    starts = set()
    for row, length in zip(cropped, (cropped != 0).sum(axis=1), strict=True):
        assert (row[length:] == 0).all() and (np.diff(row[:length]) == 1).all()  # one contiguous run, at the front
        starts.add(int(row[0]))
    assert len(starts) > 5 and max(starts) > 20  # from anywhere in the text, not only its start


@pytest.mark.parametrize("channel", ["p_telephone", "p_reverb"])
def test_a_channel_transform_changes_only_its_chosen_rows_and_exactly_as_on_all_rows(channel: str):
    # The channel transforms run on the chosen rows alone (the rest cost nothing); a chosen row must come out
    # as it would with every row chosen, and an unchosen row untouched.
    rng = np.random.default_rng(2)
    x = rng.normal(-5, 2, size=(16, *AudioFeatures().input_shape)).astype(np.float32)

    some = _audio(AudioAugment(**{**_NOTHING_ELSE, channel: 0.5}), x)
    every = _audio(AudioAugment(**{**_NOTHING_ELSE, channel: 1.0}), x)

    # The pipeline shuffles, the same way for one seed: rows of ``some`` and ``every`` line up, not those of x.
    untouched = np.array([any(np.array_equal(row, original) for original in x) for row in some])
    assert 0 < untouched.sum() < len(x)
    np.testing.assert_allclose(some[~untouched], every[~untouched], rtol=1e-5, atol=1e-5)
    assert not np.isclose(every[untouched], some[untouched]).all()
