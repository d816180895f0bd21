"""Augmentation of training batches, per modality; training only, never exported with the model.

Every transform works on the model-input tensor that ``features`` produced (``uint8`` pixels, token ids,
log-mel frames) inside a ``tf.data`` pipeline, so samples are preprocessed once and varied freshly each
epoch at little cost, and the exported graph (and so serving) is exactly the model without them.

- image: small shifts, rotations and rescaling, contrast changes (Keras' random preprocessing layers);
- audio: time shift, noise mixed in at a random SNR (in the mel power domain, where noises add), speed
  perturbation (the spectrogram stretched in time) and pitch perturbation (shifted across mel bands),
  SpecAugment time and frequency masks (Park et al., 2019); a telephone channel (each mel band's power
  scaled by a 300-3400 Hz band-pass response, nothing left above 4 kHz, as after resampling to 8 kHz)
  and reverberation (each band's power convolved in time with an exponentially decaying tail of random
  RT60 and level, the late reverberation of a room in the power domain);
- text: random truncation to a short prefix or a crop from anywhere in the text (so short messages look
  like training data) and token
  dropout to the out-of-vocabulary id (misspellings and unseen numbers look like that at serving). With
  character n-grams after the token ids, only the token ids drop out and nothing is truncated here (a
  prefix of the ids would keep the n-grams of the whole text): short messages then come from
  ``training.short_texts``, which cuts the raw texts before preprocessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from features.spec import AudioFeatures, FeatureSpec, ImageFeatures, TextFeatures
from training.loading import Arrays


@dataclass(frozen=True)
class ImageAugment:
    """Geometric and photometric jitter for images; factors are fractions of the image size."""

    shift: float = 0.1
    rotation_degrees: float = 10.0
    zoom: float = 0.15
    contrast: float = 0.3


@dataclass(frozen=True)
class AudioAugment:
    """Jitter for log-mel clips; each transform is applied to a sample with probability ``p``."""

    p: float = 0.25
    max_shift_frames: int = 8
    snr_db: tuple[float, float] = (10.0, 30.0)
    speed: tuple[float, float] = (0.93, 1.07)
    max_pitch_bands: int = 1
    time_masks: int = 1
    time_mask_frames: int = 8
    freq_masks: int = 1
    freq_mask_bands: int = 4
    p_telephone: float = 0.3
    p_reverb: float = 0.3
    rt60_seconds: tuple[float, float] = (0.2, 0.9)
    reverb_level: tuple[float, float] = (0.5, 20.0)


@dataclass(frozen=True)
class TextAugment:
    """Truncation to a random short prefix (with probability ``p_truncate``) or crop (``p_window``), token dropout."""

    p_truncate: float = 0.3
    min_tokens: int = 4
    max_tokens: int = 40
    dropout: float = 0.05
    #: Chance of a random crop instead: ``min_tokens``-``max_tokens`` ids from anywhere in the text.
    p_window: float = 0.0


Recipe = ImageAugment | AudioAugment | TextAugment


def default_recipe(features: FeatureSpec) -> Recipe:
    """The augmentation the demo recipes use for ``features``' modality."""
    if isinstance(features, ImageFeatures):
        return ImageAugment()
    if isinstance(features, TextFeatures):
        return TextAugment()
    return AudioAugment()


@dataclass(frozen=True)
class Augmenter:
    """Builds the shuffled, augmented ``tf.data`` pipeline ``fit`` trains on."""

    recipe: Recipe
    features: FeatureSpec

    def dataset(self, train: Arrays, *, batch_size: int, seed: int) -> Any:
        import tensorflow as tf

        transform = _batch_transform(self.recipe, self.features, seed)
        # One seed per batch from a seeded stream: the same seed gives the same variations, run after run.
        batch_seeds = tf.data.Dataset.random(seed=seed)
        data = tf.data.Dataset.from_tensor_slices((train.x, train.y))
        data = data.shuffle(len(train.y), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
        data = tf.data.Dataset.zip((data, batch_seeds))
        return data.map(lambda xy, batch_seed: (transform(xy[0], batch_seed), xy[1])).prefetch(1)


def _batch_transform(recipe: Recipe, features: FeatureSpec, seed: int) -> Any:
    if isinstance(recipe, ImageAugment) and isinstance(features, ImageFeatures):
        return _image_transform(recipe, seed)
    if isinstance(recipe, TextAugment) and isinstance(features, TextFeatures):
        return _text_transform(recipe, features)
    if isinstance(recipe, AudioAugment) and isinstance(features, AudioFeatures):
        return _audio_transform(recipe, features)
    raise ValueError(f"{type(recipe).__name__} does not apply to {features.modality} features")


def _image_transform(recipe: ImageAugment, seed: int) -> Any:
    import keras
    import tensorflow as tf

    layers = [
        keras.layers.RandomTranslation(recipe.shift, recipe.shift, fill_mode="nearest", seed=seed),
        keras.layers.RandomRotation(recipe.rotation_degrees / 360.0, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomZoom((-recipe.zoom, recipe.zoom), fill_mode="nearest", seed=seed + 2),
        keras.layers.RandomContrast(recipe.contrast, value_range=(0, 255), seed=seed + 3),
    ]

    def transform(x: Any, batch_seed: Any) -> Any:  # noqa: ARG001 (the layers carry their own seeds)
        images = tf.cast(x, tf.float32)
        for layer in layers:
            images = layer(images, training=True)
        return tf.cast(tf.clip_by_value(tf.round(images), 0.0, 255.0), tf.uint8)

    return transform


def _text_transform(recipe: TextAugment, features: TextFeatures) -> Any:
    import tensorflow as tf

    length = features.sequence_length
    positions = tf.range(features.input_shape[0])[tf.newaxis, :]
    p_truncate = 0.0 if features.char_ngram_length else recipe.p_truncate
    p_window = 0.0 if features.char_ngram_length else recipe.p_window

    draw = _Draws()

    def window(ids: Any, keep: Any, chosen: Any) -> Any:
        # A run of ``keep`` token ids from a random start inside the text, moved to the front.
        words = ids[:, :length]
        count = tf.reduce_sum(tf.cast(words != features.pad_id, tf.int32), axis=1, keepdims=True)
        room = tf.cast(tf.maximum(count - keep, 0) + 1, tf.float32)
        start = tf.cast(tf.floor(draw(tf.shape(count)) * room), tf.int32)
        index = tf.minimum(start + positions[:, :length], length - 1)
        crop = tf.gather(words, index, batch_dims=1)
        crop = tf.where(positions[:, :length] < keep, crop, tf.zeros_like(crop) + features.pad_id)
        return tf.where(chosen, crop, words)

    def transform(ids: Any, batch_seed: Any) -> Any:
        draw.start(batch_seed)
        rows = tf.shape(ids)[0]
        keep = draw([rows, 1], recipe.min_tokens, recipe.max_tokens + 1, dtype=tf.int32)
        truncate = draw([rows, 1]) < p_truncate
        limit = tf.where(truncate, keep, features.input_shape[0])
        ids = tf.where(positions < limit, ids, tf.zeros_like(ids) + features.pad_id)
        words = positions < length
        dropped = draw(tf.shape(ids)) < recipe.dropout
        if p_window > 0:  # drawn after the others, so recipes without windows draw exactly as before
            chosen = ~truncate & (draw([rows, 1]) < p_window / max(1e-9, 1.0 - p_truncate))
            ids = window(ids, keep, chosen)
        drop = dropped & (ids != features.pad_id) & words
        return tf.where(drop, tf.zeros_like(ids) + features.oov_id, ids)

    return transform


def _audio_transform(recipe: AudioAugment, features: AudioFeatures) -> Any:
    import tensorflow as tf

    draw = _Draws()
    floor = float(features.log_floor)
    seconds_per_frame = features.hop_length / features.sample_rate
    tail_frames = min(features.n_frames, round(recipe.rt60_seconds[1] / seconds_per_frame))

    def chance_of(rows: Any, p: float) -> Any:
        return draw([rows, 1, 1]) < p

    def chance(rows: Any) -> Any:
        return chance_of(rows, recipe.p)

    def shift_time(x: Any) -> Any:
        # Roll each clip by its own offset, then fill what wrapped around with the clip's quietest value.
        frames = tf.shape(x)[1]
        offsets = draw([tf.shape(x)[0]], -recipe.max_shift_frames, recipe.max_shift_frames + 1, tf.int32)
        rolled = tf.map_fn(lambda pair: tf.roll(pair[0], pair[1], axis=0), (x, offsets), fn_output_signature=x.dtype)
        index = tf.range(frames)[tf.newaxis, :]
        wrapped = ((offsets[:, tf.newaxis] > 0) & (index < offsets[:, tf.newaxis])) | (
            (offsets[:, tf.newaxis] < 0) & (index >= frames + offsets[:, tf.newaxis])
        )
        floor = tf.reduce_min(x, axis=[1, 2], keepdims=True)
        return tf.where(wrapped[:, :, tf.newaxis], floor, rolled)

    def add_noise(x: Any) -> Any:
        power = tf.exp(x)
        signal = tf.reduce_mean(power, axis=[1, 2], keepdims=True)
        snr = draw([tf.shape(x)[0], 1, 1], *recipe.snr_db)
        # Noise with a random spectral tilt (white to pink-ish) and a little frame-to-frame variation.
        tilt = draw([tf.shape(x)[0], 1, 1], 0.0, 1.5)
        bands = tf.cast(tf.range(tf.shape(x)[2]), tf.float32)[tf.newaxis, tf.newaxis, :] / tf.cast(
            tf.shape(x)[2], tf.float32
        )
        shape = tf.exp(-tilt * bands * 3.0) * draw(tf.shape(x), 0.5, 1.5)
        shape /= tf.reduce_mean(shape, axis=[1, 2], keepdims=True)
        noise = signal / tf.pow(10.0, snr / 10.0) * shape
        return tf.math.log(power + noise)

    def stretch(x: Any) -> Any:
        frames, bands = tf.shape(x)[1], tf.shape(x)[2]
        factor = draw([], *recipe.speed)
        new_frames = tf.cast(tf.round(tf.cast(frames, tf.float32) / factor), tf.int32)
        resized = tf.image.resize(x[..., tf.newaxis], [new_frames, bands])[..., 0]
        floor = tf.reduce_min(x, axis=[1, 2], keepdims=True)
        padded = tf.concat([resized, tf.zeros_like(x) + floor], axis=1)
        return padded[:, :frames, :]

    def shift_pitch(x: Any) -> Any:
        bands = draw([], -recipe.max_pitch_bands, recipe.max_pitch_bands + 1, tf.int32)
        rolled = tf.roll(x, bands, axis=2)
        index = tf.range(tf.shape(x)[2])[tf.newaxis, tf.newaxis, :]
        edge = tf.where(bands >= 0, x[:, :, :1], x[:, :, -1:])
        wrapped = tf.where(bands >= 0, index < bands, index >= tf.shape(x)[2] + bands)
        return tf.where(wrapped, edge, rolled)

    def mask(x: Any, axis: int, count: int, width: int) -> Any:
        size = tf.shape(x)[axis]
        rows = tf.shape(x)[0]
        index = tf.range(size)
        mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
        for _ in range(count):
            widths = draw([rows, 1], 0, width + 1, tf.int32)
            starts = draw([rows, 1], 0, tf.maximum(1, size - width), tf.int32)
            hit = (index[tf.newaxis, :] >= starts) & (index[tf.newaxis, :] < starts + widths)
            hit = hit[:, :, tf.newaxis] if axis == 1 else hit[:, tf.newaxis, :]
            x = tf.where(hit, mean, x)
        return x

    def channel(x: Any, gain: Any) -> Any:
        # Back to mel power (the features add log_floor before the log), scale, and back to the log.
        power = tf.maximum(tf.exp(x) - floor, 0.0)
        return tf.math.log(power * gain + floor)

    def telephone(x: Any) -> Any:
        # Edges jittered per batch: phone lines and codecs differ.
        low = draw([], 200.0, 400.0)
        high = draw([], 3000.0, 3700.0)
        hz = tf.constant(_band_centres(features))
        below_nyquist = tf.cast(hz < 4_000.0, tf.float32)  # nothing survives resampling to 8 kHz above 4 kHz
        gain = below_nyquist / (1.0 + tf.pow(low / hz, 12.0)) / (1.0 + tf.pow(hz / high, 24.0))
        return channel(x, gain[tf.newaxis, tf.newaxis, :])

    def reverberate(x: Any) -> Any:
        rt60 = draw([], *recipe.rt60_seconds)
        # Tail power per frame relative to the direct sound, log-uniform; energy falls 60 dB in RT60.
        level = tf.exp(draw([], *(math.log(v) for v in recipe.reverb_level)))
        lags = tf.range(tail_frames, dtype=tf.float32)
        kernel = level * tf.exp(-13.8 * lags * seconds_per_frame / rt60)
        kernel = tf.tensor_scatter_nd_update(kernel, [[0]], [1.0 + kernel[0]])
        power = tf.maximum(tf.exp(x) - floor, 0.0)
        rows, frames, bands = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
        series = tf.reshape(tf.transpose(power, [0, 2, 1]), [rows * bands, frames, 1])
        series = tf.pad(series, [[0, 0], [tail_frames - 1, 0], [0, 0]])  # causal: only the past echoes
        wet = tf.nn.conv1d(series, tf.reverse(kernel, [0])[:, tf.newaxis, tf.newaxis], stride=1, padding="VALID")
        wet = tf.transpose(tf.reshape(wet, [rows, bands, frames]), [0, 2, 1])
        return tf.math.log(wet + floor)

    def on_chosen_rows(chosen: Any, function: Any, x: Any) -> Any:
        # The channel transforms draw only per-batch scalars, so running them on the chosen rows alone gives
        # those rows exactly what the whole batch would; the other rows (most of them) cost nothing.
        index = tf.where(tf.reshape(chosen, [-1]))
        return tf.cond(
            tf.size(index) > 0,
            lambda: tf.tensor_scatter_nd_update(x, index, function(tf.gather_nd(x, index))),
            lambda: x,
        )

    def transform(x: Any, batch_seed: Any) -> Any:
        draw.start(batch_seed)
        rows = tf.shape(x)[0]
        if recipe.p_reverb:
            x = on_chosen_rows(chance_of(rows, recipe.p_reverb), reverberate, x)
        if recipe.p_telephone:
            x = on_chosen_rows(chance_of(rows, recipe.p_telephone), telephone, x)
        if recipe.p:  # with p = 0 (channel-only recipes) nothing below is computed only to be thrown away
            x = tf.where(chance(rows), shift_time(x), x)
            x = tf.where(chance(rows), stretch(x), x)
            x = tf.where(chance(rows), shift_pitch(x), x)
            x = tf.where(chance(rows), add_noise(x), x)
        x = mask(x, 1, recipe.time_masks, recipe.time_mask_frames)
        return mask(x, 2, recipe.freq_masks, recipe.freq_mask_bands)

    return transform


def _band_centres(features: AudioFeatures) -> Any:
    import numpy as np

    from features.audio import hz_to_mel, mel_to_hz

    edges = mel_to_hz(np.linspace(hz_to_mel(features.fmin), hz_to_mel(features.fmax), features.n_mels + 2))
    return np.maximum(edges[1:-1], 1.0).astype(np.float32)


class _Draws:
    """Stateless uniform draws keyed by the batch's seed and the order of the call sites.

    ``tf.data`` traces a transform once; each ``draw`` call site gets its own counter value at trace time,
    and the batch seed varies per batch, so every batch and site draws differently yet reproducibly.
    """

    def __init__(self) -> None:
        self._seed: Any = None
        self._count = 0

    def start(self, batch_seed: Any) -> None:
        import tensorflow as tf

        self._seed = tf.cast(batch_seed, tf.int64)
        self._count = 0

    def __call__(self, shape: Any, minval: Any = 0, maxval: Any = None, dtype: Any = None) -> Any:
        import tensorflow as tf

        self._count += 1
        seed = tf.stack([self._seed, tf.constant(self._count, tf.int64)])
        return tf.random.stateless_uniform(shape, seed, minval, maxval, dtype=dtype or tf.float32)
