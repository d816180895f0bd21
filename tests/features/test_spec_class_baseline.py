"""The optional drift baseline of a spec: old specs load with their hash unchanged; new ones are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from features.spec import ModelSpec

#: ``assets.extra/spec.json`` of a version exported before ``class_baseline`` existed (the demo digits model).
SPEC_BEFORE_BASELINE = (
    '{"schema_version":1,"name":"digits","labels":["0","1","2","3","4","5","6","7","8","9"],'
    '"features":{"modality":"image","height":28,"width":28,"color_mode":"grayscale","polarity":"light_on_dark"},'
    '"content_hash":"sha256:8f34558e2b75ab6f022a895f1df697763c2f72d5b325108aa09002ae2128d821"}'
)


def test_spec_without_baseline_keeps_its_hash() -> None:
    spec = ModelSpec.from_json(SPEC_BEFORE_BASELINE)
    assert spec.class_baseline is None
    assert spec.content_hash == "sha256:8f34558e2b75ab6f022a895f1df697763c2f72d5b325108aa09002ae2128d821"
    assert ModelSpec.from_json(spec.to_json()) == spec


def test_baseline_round_trips_and_changes_the_hash() -> None:
    old = ModelSpec.from_json(SPEC_BEFORE_BASELINE)
    shares = tuple([0.1] * 10)
    spec = old.with_class_baseline(shares)
    assert spec.class_baseline == shares
    assert spec.content_hash != old.content_hash
    assert ModelSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize("shares", [(0.5, 0.5), (0.2,) * 10, (-0.8,) + (0.2,) * 9])
def test_baseline_must_be_one_share_per_label_summing_to_one(shares: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError):
        ModelSpec.from_json(SPEC_BEFORE_BASELINE).with_class_baseline(shares)
