"""Small Keras classifiers, one per modality, that train on a CPU in seconds to minutes.

Each model takes exactly the tensor that ``features`` produces for its spec (``uint8`` pixels,
``int32`` token ids, ``float32`` log-mel frames) and ends in a softmax, so everything that turns
that tensor into numbers the network likes (pixel scaling, loudness normalisation) lives inside
the model and is exported with it.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from features import contract
from features.spec import AudioFeatures, ImageFeatures, ModelSpec, TextFeatures


@keras.saving.register_keras_serializable(package="training")
class UtteranceNormalization(layers.Layer):  # type: ignore[misc]
    """Standardise each utterance over time and mel bands, so loudness and gain do not matter."""

    def __init__(self, epsilon: float = 1e-3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs: Any) -> Any:
        mean = ops.mean(inputs, axis=(1, 2), keepdims=True)
        std = ops.std(inputs, axis=(1, 2), keepdims=True)
        return (inputs - mean) / (std + self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="training")
class MaskedPooling(layers.Layer):  # type: ignore[misc]
    """Mean and max of per-position vectors over the positions whose id is not padding.

    Unmasked pooling over a mostly padded sequence makes a short message look like an empty one;
    pooling only real positions keeps a subject line and a long e-mail on the same scale.
    """

    def __init__(self, pad_id: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pad_id = pad_id

    def call(self, ids: Any, values: Any) -> Any:
        mask = ops.expand_dims(ops.cast(ops.not_equal(ids, self.pad_id), values.dtype), -1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        mean = ops.sum(values * mask, axis=1) / count
        # Padded positions get a very low value so they never win the max; an all-padding row gives 0.
        peak = ops.max(values * mask + (mask - 1.0) * 1e4, axis=1)
        return ops.concatenate([mean, ops.where(ops.sum(mask, axis=1) > 0, peak, 0.0)], axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="training")
class Positions(layers.Layer):  # type: ignore[misc]
    """Positions ``start:stop`` of a sequence (the token ids before the n-gram ids, say)."""

    def __init__(self, start: int, stop: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start, self.stop = start, stop

    def call(self, inputs: Any) -> Any:
        return inputs[:, self.start : self.stop]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "start": self.start, "stop": self.stop}


def build_model(spec: ModelSpec) -> keras.Model:
    """A compiled classifier for ``spec``: its input is the spec's feature tensor, its output the softmax."""
    features = spec.features
    n_classes = len(spec.labels)
    if isinstance(features, ImageFeatures):
        model = image_cnn(features, n_classes)
        learning_rate = 2e-3
    elif isinstance(features, TextFeatures):
        model = text_classifier(features, n_classes)
        learning_rate = 3e-3
    else:
        model = speech_cnn(features, n_classes)
        learning_rate = 2e-3
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _input(name: str, shape: tuple[int, ...], dtype: str) -> Any:
    return keras.Input(shape=shape, dtype=dtype, name=name)


def _classifier_head(inputs: Any, x: Any, n_classes: int, *, hidden: int, dropout: float, name: str) -> keras.Model:
    """The head every architecture ends with: a hidden ReLU layer, dropout, and the softmax over labels."""
    x = layers.Dense(hidden, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name=contract.PROBABILITIES_OUTPUT)(x)
    return keras.Model(inputs, outputs, name=name)


def image_cnn(features: ImageFeatures, n_classes: int) -> keras.Model:
    """Two conv/pool blocks and a dense head; ``uint8`` pixels are scaled to [0, 1] inside."""
    inputs = _input(features.input_name, features.input_shape, features.input_dtype)
    x = layers.Rescaling(1.0 / 255.0, name="scale_pixels")(inputs)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    if min(features.height, features.width) >= 32:
        x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    return _classifier_head(inputs, x, n_classes, hidden=128, dropout=0.4, name="image_cnn")


def text_classifier(features: TextFeatures, n_classes: int) -> keras.Model:
    """Token (and n-gram) embeddings, a narrow convolution for short phrases, then mean- and max-pooling.

    With character n-grams, pooling skips padding (:class:`MaskedPooling`), so short and long texts
    pool on the same scale; without, it pools every position as versions before n-grams did.
    """
    inputs = _input(features.input_name, features.input_shape, features.input_dtype)
    embedded = layers.Embedding(features.id_count, 64, name="embedding")(inputs)
    embedded = layers.SpatialDropout1D(0.2)(embedded)
    phrases = layers.Conv1D(64, 3, padding="same", activation="relu")(embedded)
    if features.char_ngram_length:
        pooled = layers.Concatenate()(
            [
                MaskedPooling(features.pad_id, name="pool_words")(inputs, embedded),
                MaskedPooling(features.pad_id, name="pool_phrases")(inputs, phrases),
            ]
        )
    else:
        pooled = layers.Concatenate()(
            [
                layers.GlobalAveragePooling1D()(embedded),
                layers.GlobalMaxPooling1D()(phrases),
            ]
        )
    x = layers.Dropout(0.3)(pooled)
    return _classifier_head(inputs, x, n_classes, hidden=64, dropout=0.3, name="text_classifier")


def speech_cnn(features: AudioFeatures, n_classes: int) -> keras.Model:
    """Per-utterance standardisation, three conv blocks with batch norm over the log-mel image."""
    inputs = _input(features.input_name, features.input_shape, features.input_dtype)
    x = UtteranceNormalization(name="normalize_utterance")(inputs)
    x = layers.Reshape((*features.input_shape, 1))(x)
    for filters in (16, 32, 64):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return _classifier_head(inputs, x, n_classes, hidden=64, dropout=0.3, name="speech_cnn")
