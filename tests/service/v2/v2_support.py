"""Helpers of the V2 tests: samples per modality, tritonclient inputs, and our own API's answer to compare."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np

from training.testing import TINY_LABELS, tiny_input

MODELS = ("tiny-image", "tiny-text", "tiny-audio")


def samples(model: str, count: int = 2) -> list[bytes | str]:
    """``count`` fresh raw inputs of different labels for ``model``."""
    labels = TINY_LABELS[model]
    return [tiny_input(model, labels[i % len(labels)], seed=i + 1) for i in range(count)]


def as_elements(raws: list[bytes | str]) -> np.ndarray:
    """Raw inputs as a BYTES tensor of shape [N]: texts UTF-8, files as they are."""
    return np.array([r.encode() if isinstance(r, str) else r for r in raws], dtype=np.object_)


def as_json_elements(raws: list[bytes | str]) -> np.ndarray:
    """Raw inputs as JSON can carry them: texts as they are, files base64 (the V2 rule for image and audio)."""
    return np.array(
        [r.encode() if isinstance(r, str) else base64.b64encode(r) for r in raws],
        dtype=np.object_,
    )


async def our_answer(rest: httpx.AsyncClient, model: str, raws: list[bytes | str], top_k: int = 3) -> dict[str, Any]:
    """Our own API's answer (``POST /v1/models/{model}:classify``) for the same inputs."""
    instances = [{"text": r} if isinstance(r, str) else {"b64": base64.b64encode(r).decode("ascii")} for r in raws]
    response = await rest.post(f"/v1/models/{model}:classify", json={"instances": instances, "top_k": top_k})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def probabilities_of(answer: dict[str, Any]) -> np.ndarray:
    """Our answer's probabilities as [N, C], in label order."""
    return np.array([list(p["probabilities"].values()) for p in answer["predictions"]], dtype=np.float32)


def assert_same_classification(got: np.ndarray, answer: dict[str, Any], k: int) -> None:
    """``got`` (BYTES [N, k]) is our answer's top-k as Triton's ``score:index:label`` strings, best first."""
    labels = list(answer["predictions"][0]["probabilities"])
    rows = decoded(got)
    assert got.shape == (len(answer["predictions"]), k)
    for row, prediction in zip(rows, answer["predictions"], strict=True):
        parsed = [entry.split(":", 2) for entry in row]
        assert [(int(i), label) for _, i, label in parsed] == [
            (labels.index(s["label"]), s["label"]) for s in prediction["top_k"][:k]
        ]
        for (score, _, _), s in zip(parsed, prediction["top_k"], strict=False):
            assert len(score.split(".")[1]) == 6  # printed as C++ std::to_string prints a float
            assert abs(float(score) - s["score"]) <= 1e-5


def assert_same_probabilities(got: np.ndarray, answer: dict[str, Any]) -> None:
    """Same shape, same values (to float32 rounding across batch compositions), same best label per row."""
    want = probabilities_of(answer)
    assert got.dtype == np.float32
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert got.argmax(axis=1).tolist() == want.argmax(axis=1).tolist()


def decoded(strings: np.ndarray) -> list[list[str]]:
    """A BYTES [N, k] answer as lists of str."""
    return [[s.decode() if isinstance(s, bytes) else str(s) for s in row] for row in strings.tolist()]
