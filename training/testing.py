"""Tiny real model versions for test suites: ``build_tiny_models(models_dir)``.

Generates small, easily separable class-per-folder datasets (images of distinct shapes, texts
with distinct words, WAVs with distinct tones), trains each for a few quick epochs with the real
pipeline and exports ``tiny-image``, ``tiny-text`` and ``tiny-audio`` as real SavedModel
versions. ``tiny_input`` makes a fresh raw sample of a label to send to a server.

Typical use, as a session fixture::

    @pytest.fixture(scope="session")
    def models_dir(tmp_path_factory):
        root = tmp_path_factory.mktemp("models")
        build_tiny_models(root)
        return root
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np

from features.spec import Modality

if TYPE_CHECKING:
    from training.pipeline import TrainingResult

logger = logging.getLogger(__name__)

TINY_MODALITIES: dict[str, Modality] = {"tiny-image": "image", "tiny-text": "text", "tiny-audio": "audio"}
TINY_LABELS: dict[str, tuple[str, ...]] = {
    "tiny-image": ("circle", "cross", "square"),
    "tiny-text": ("food", "sport", "weather"),
    "tiny-audio": ("high", "low", "mid"),
}
_IMAGE_SIZE = 24
_SAMPLE_RATE = 16_000
_TONE_SECONDS = 0.5
_TONES_HZ = {"low": 300.0, "mid": 900.0, "high": 2_500.0}
_WORDS = {
    "food": ("pizza", "bread", "cheese", "pasta", "apple", "soup"),
    "sport": ("football", "goal", "tennis", "match", "score", "team"),
    "weather": ("rain", "sunny", "cloud", "storm", "wind", "snow"),
}
_FILLER = ("the", "a", "today", "very", "we", "like", "and", "is")


def tiny_input(name: str, label: str, *, seed: int = 0) -> bytes | str:
    """One fresh raw sample of ``label`` for model ``name``: PNG bytes, text, or WAV bytes."""
    rng = np.random.default_rng(seed)
    makers: dict[str, Callable[[str, np.random.Generator], bytes | str]] = {
        "tiny-image": _shape_png,
        "tiny-text": _sentence,
        "tiny-audio": _tone_wav,
    }
    if label not in TINY_LABELS[name]:
        raise ValueError(f"{name} has labels {TINY_LABELS[name]}, not {label!r}")
    return makers[name](label, rng)


def write_tiny_dataset(name: str, out_dir: Path, *, per_label: int = 16, seed: int = 0) -> Path:
    """Write ``out_dir/LABEL/NNN.ext`` for one tiny model; returns ``out_dir``."""
    suffix = {"image": ".png", "text": ".txt", "audio": ".wav"}[TINY_MODALITIES[name]]
    for index, label in enumerate(TINY_LABELS[name]):
        folder = out_dir / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_label):
            sample = tiny_input(name, label, seed=seed * 100_003 + index * 1_009 + i)
            path = folder / f"{i:03d}{suffix}"
            if isinstance(sample, str):
                path.write_text(sample, encoding="utf-8")
            else:
                path.write_bytes(sample)
    return out_dir


class TinyOptions(TypedDict, total=False):
    """Which tiny models, how long they train, and where their datasets go (a temporary folder by default)."""

    names: tuple[str, ...]
    epochs: int
    data_dir: Path | None


def build_tiny_models(models_dir: Path, **options: Unpack[TinyOptions]) -> dict[str, Path]:
    """Train and export the tiny models into ``models_dir``; returns name -> version folder.

    Takes a few seconds in all. Datasets go to ``data_dir`` (a temporary folder by default).
    """
    results = train_tiny_models(models_dir, **options)
    return {name: result.version_dir for name, result in results.items()}


def train_tiny_models(
    models_dir: Path,
    *,
    names: tuple[str, ...] = tuple(TINY_MODALITIES),
    epochs: int = 6,
    data_dir: Path | None = None,
) -> dict[str, TrainingResult]:
    """Like ``build_tiny_models``, but returns the full results, trained Keras models included."""
    from training.feature_specs import FeatureOptions
    from training.pipeline import TrainingJob, train_and_export

    options = FeatureOptions(
        image_height=16,
        image_width=16,
        color_mode="rgb",
        max_tokens=64,
        sequence_length=12,
        clip_seconds=_TONE_SECONDS,
    )
    results: dict[str, TrainingResult] = {}
    with tempfile.TemporaryDirectory(prefix="tiny-datasets-") as scratch:
        root = Path(data_dir) if data_dir is not None else Path(scratch)
        for name in names:
            job = TrainingJob(
                data_dir=write_tiny_dataset(name, root / name),
                name=name,
                modality=TINY_MODALITIES[name],
                models_dir=Path(models_dir),
                options=options,
                epochs=epochs,
                batch_size=4,
                patience=epochs,
                progress="none",
                workers=1,
            )
            result = train_and_export(job)
            logger.info("%s: %s (accuracy %.2f)", name, result.version_dir, result.evaluation.accuracy)
            results[name] = result
    return results


def _shape_png(label: str, rng: np.random.Generator) -> bytes:
    from PIL import Image, ImageDraw

    background = tuple(int(v) for v in rng.integers(0, 60, size=3))
    # Each shape also has its own dominant colour channel, so a few epochs separate them reliably.
    channel = TINY_LABELS["tiny-image"].index(label)
    colour = tuple(int(rng.integers(220, 256)) if c == channel else int(rng.integers(0, 90)) for c in range(3))
    image = Image.new("RGB", (_IMAGE_SIZE, _IMAGE_SIZE), background)
    draw = ImageDraw.Draw(image)
    dx, dy = (int(v) for v in rng.integers(-2, 3, size=2))
    box = (5 + dx, 5 + dy, 18 + dx, 18 + dy)
    if label == "square":
        draw.rectangle(box, fill=colour)
    elif label == "circle":
        draw.ellipse(box, outline=colour, width=3)
    else:
        draw.line((box[0], box[1], box[2], box[3]), fill=colour, width=3)
        draw.line((box[0], box[3], box[2], box[1]), fill=colour, width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _sentence(label: str, rng: np.random.Generator) -> str:
    words = [str(w) for w in rng.choice(_WORDS[label], size=3)]
    words += [str(w) for w in rng.choice(_FILLER, size=int(rng.integers(1, 4)))]
    rng.shuffle(words)
    return " ".join(words).capitalize() + "."


def _tone_wav(label: str, rng: np.random.Generator) -> bytes:
    import soundfile

    t = np.arange(round(_SAMPLE_RATE * _TONE_SECONDS)) / _SAMPLE_RATE
    frequency = _TONES_HZ[label] * (1 + rng.uniform(-0.03, 0.03))
    amplitude = rng.uniform(0.2, 0.6)
    signal = amplitude * np.sin(2 * np.pi * frequency * t) + rng.normal(0, 0.01, t.size)
    buffer = io.BytesIO()
    soundfile.write(buffer, signal.astype(np.float32), _SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()
