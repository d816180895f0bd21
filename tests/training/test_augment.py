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
