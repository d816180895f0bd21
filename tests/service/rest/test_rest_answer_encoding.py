"""The REST answer's bytes equal what the former pydantic answer model wrote, for every kind of answer.

The core's answer is plain dataclasses (built without validation); the route encodes them with
``answer_encoder``. ``Reference*`` below are the pydantic models the answer used to be: their JSON is
the contract the fast path must keep, byte for byte (field order, float spelling, ``abstained``).
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel, Field

from service.core.schemas import ClassifyResponse, Prediction, ScoredLabel
from service.rest.routes_classify import answer_encoder


class ReferenceScoredLabel(BaseModel):
    label: str
    score: float


class ReferencePrediction(BaseModel):
    label: str
    score: float
    top_k: list[ReferenceScoredLabel]
    probabilities: dict[str, float]
    abstained: bool = Field(default=False)


class ReferenceResponse(BaseModel):
    model: str
    version: int
    predictions: list[ReferencePrediction]


def _answer(labels: list[str], rows: np.ndarray, top_k: int, min_confidence: float | None) -> ClassifyResponse:
    """An answer as the core builds one: float32 probabilities through ``tolist``."""
    predictions = []
    for row in rows.astype(np.float32).tolist():
        ranked = sorted(range(len(labels)), key=lambda j: -row[j])[:top_k]
        top = [ScoredLabel(label=labels[j], score=row[j]) for j in ranked]
        abstained = min_confidence is not None and top[0].score < min_confidence
        predictions.append(
            Prediction(top[0].label, top[0].score, top, dict(zip(labels, row, strict=True)), abstained=abstained)
        )
    return ClassifyResponse(model="spam-v2.model", version=12, predictions=predictions)


def _reference_json(answer: ClassifyResponse) -> bytes:
    return (
        ReferenceResponse(
            model=answer.model,
            version=answer.version,
            predictions=[
                ReferencePrediction(
                    label=p.label,
                    score=p.score,
                    top_k=[ReferenceScoredLabel(label=s.label, score=s.score) for s in p.top_k],
                    probabilities=p.probabilities,
                    abstained=p.abstained,
                )
                for p in answer.predictions
            ],
        )
        .model_dump_json()
        .encode()
    )


_RNG = np.random.default_rng(7)
CASES = {
    "two labels, confident": (["ham", "spam"], np.array([[0.02, 0.98]]), 2, None),
    "abstained": (["ham", "spam"], np.array([[0.45, 0.55]]), 2, 0.9),
    "top_k 1 of 10": ([str(d) for d in range(10)], _RNG.dirichlet(np.ones(10), size=1), 1, None),
    "top_k 5, several inputs, some abstained": (
        [str(d) for d in range(10)],
        _RNG.dirichlet(np.ones(10) * 0.3, size=6),
        5,
        0.5,
    ),
    "tiny, zero and one scores": (["a", "b", "c"], np.array([[1.0, 0.0, 1e-30], [1e-7, 3.5e-5, 0.9999649]]), 3, None),
    "non-ASCII and quoted labels": (
        ['"quoted"', "ünïcödé", "emoji 🎉", "back\\slash"],
        _RNG.dirichlet(np.ones(4), 2),
        4,
        None,
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_encoded_answer_equals_the_pydantic_models_json(case: str) -> None:
    labels, rows, top_k, min_confidence = CASES[case]
    answer = _answer(labels, rows, top_k, min_confidence)
    encoded = answer_encoder()(answer)
    assert encoded == _reference_json(answer)
    assert (b'"abstained":true' in encoded) == any(p.abstained for p in answer.predictions)
    if case == "abstained":
        assert answer.predictions[0].abstained
