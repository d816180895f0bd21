"""Bench system (b), the naive baseline: what a tutorial writes to serve these models with FastAPI.

Each model's newest version is loaded once at start with ``tf.saved_model.load`` and every request calls
``signatures["serving_default"]`` on its own one-row batch: no batching, no call-path tuning, no work
kept off the request thread beyond FastAPI running a plain ``def`` route in its thread pool.
Preprocessing is written the tutorial way, in the request: Pillow ``open``/``convert``/``resize`` for
images, lower-case + regex + dict look-up for text, and ``tf.signal`` STFT + mel matrix for audio (the
TensorFlow audio tutorial's recipe), with sizes read from the version's ``spec.json``. It takes the
same JSON body and path as the gateway, so the load generator sends identical bytes.

``python -m loadtest.bench.naive_app --models-dir models --models digits spam spoken-digits --port 8101``
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
import uvicorn
from fastapi import FastAPI, HTTPException
from PIL import Image
from pydantic import BaseModel

from features.contract import PROBABILITIES_OUTPUT, SERVING_SIGNATURE, newest_version_dir, spec_file

Preprocess = Callable[[bytes | str], np.ndarray]


class Instance(BaseModel):
    """``{"text": ...}`` or ``{"b64": ...}``."""

    text: str | None = None
    b64: str | None = None


class ClassifyBody(BaseModel):
    """The classify request body."""

    instances: list[Instance]
    top_k: int | None = None


class NaiveModel:
    """One loaded SavedModel, its labels and its tutorial-style preprocessing."""

    def __init__(self, version_dir: Path) -> None:
        spec = json.loads(spec_file(version_dir).read_text(encoding="utf-8"))
        self.labels: list[str] = list(spec["labels"])
        self.features: dict[str, Any] = spec["features"]
        self.saved_model = tf.saved_model.load(str(version_dir))
        self.serve = self.saved_model.signatures[SERVING_SIGNATURE]
        self.input_name = {"image": "image", "text": "token_ids", "audio": "log_mel"}[self.features["modality"]]
        self.preprocess: Preprocess = getattr(self, f"_{self.features['modality']}")
        if self.features["modality"] == "text":
            self.vocabulary = {token: index for index, token in enumerate(self.features["vocabulary"])}

    def predict(self, raw: bytes | str) -> np.ndarray:
        """Probabilities for one input."""
        batch = np.expand_dims(self.preprocess(raw), 0)
        outputs = self.serve(**{self.input_name: tf.constant(batch)})
        return outputs[PROBABILITIES_OUTPUT].numpy()[0]  # type: ignore[no-any-return]

    def _image(self, raw: bytes | str) -> np.ndarray:
        f = self.features
        opened = Image.open(io.BytesIO(raw if isinstance(raw, bytes) else raw.encode()))
        image = opened.convert("L" if f["color_mode"] == "grayscale" else "RGB").resize((f["width"], f["height"]))
        pixels = np.array(image, dtype=np.uint8)
        if f.get("polarity") == "light_on_dark" and pixels.mean() > 127:
            pixels = 255 - pixels
        return pixels.reshape(f["height"], f["width"], -1)

    def _text(self, raw: bytes | str) -> np.ndarray:
        f = self.features
        text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
        tokens = re.findall(f["token_pattern"], text.lower())[: f["sequence_length"]]
        ids = [self.vocabulary.get(token, 1) for token in tokens]
        return np.array(ids + [0] * (f["sequence_length"] - len(ids)), dtype=np.int32)

    def _audio(self, raw: bytes | str) -> np.ndarray:
        f = self.features
        audio, _ = tf.audio.decode_wav(raw if isinstance(raw, bytes) else raw.encode(), desired_channels=1)
        samples = int(f["sample_rate"] * f["clip_seconds"])
        waveform = tf.squeeze(audio, axis=-1)[:samples]
        waveform = tf.concat([waveform, tf.zeros([samples - tf.shape(waveform)[0]])], 0)
        stft = tf.signal.stft(waveform, frame_length=f["frame_length"], frame_step=f["hop_length"], pad_end=False)
        power = tf.abs(stft) ** 2
        mel_matrix = tf.signal.linear_to_mel_weight_matrix(
            f["n_mels"], power.shape[-1], f["sample_rate"], f["fmin"], f["fmax"]
        )
        log_mel = tf.math.log(tf.tensordot(power, mel_matrix, 1) + f["log_floor"]).numpy()
        frames = int(self.serve.structured_input_signature[1][self.input_name].shape[1])
        log_mel = log_mel[:frames]
        return np.pad(log_mel, ((0, frames - len(log_mel)), (0, 0)))


def create_app(models_dir: Path, names: list[str]) -> FastAPI:
    """Load each model's newest version and serve the classify route."""
    models = {}
    for name in names:
        models[name] = NaiveModel(newest_version_dir(models_dir / name))
    app = FastAPI(title="bench naive baseline")

    @app.post("/v1/models/{name}:classify")
    def classify(name: str, body: ClassifyBody) -> dict[str, Any]:
        if name not in models:
            raise HTTPException(404, f"no model {name}")
        model = models[name]
        predictions = []
        for instance in body.instances:
            raw: bytes | str = instance.text if instance.text is not None else base64.b64decode(instance.b64 or "")
            probabilities = model.predict(raw)
            ranked = np.argsort(probabilities)[::-1][: body.top_k or 5]
            predictions.append(
                {
                    "label": model.labels[ranked[0]],
                    "score": float(probabilities[ranked[0]]),
                    "top_k": [{"label": model.labels[i], "score": float(probabilities[i])} for i in ranked],
                    "probabilities": {label: float(p) for label, p in zip(model.labels, probabilities, strict=True)},
                }
            )
        return {"model": name, "version": 1, "predictions": predictions}

    @app.get("/readyz")
    def readyz() -> dict[str, bool]:
        return {"ready": True}

    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1 with uvicorn's defaults."""
    parser = argparse.ArgumentParser(prog="python -m loadtest.bench.naive_app")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args(argv)
    app = create_app(args.models_dir, args.models)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
