"""The sampler's decision that tracing makes without calling the sampler (``_static_decisions``) is the one the
SDK's sampler makes, for each sampler ``OTEL_TRACES_SAMPLER`` can name and for each kind of parent a request
can have; a sampler that decides by more than its parent (a ratio root, a subclass) is asked every time."""

from __future__ import annotations

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
    _get_from_env_or_default,
)
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState, set_span_in_context

from service.observability.tracing import _static_decisions

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
STATE = TraceState([("vendor", "value")])


def _remote_parent(sampled: bool) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(TRACE_ID, 0x00F067AA0BA902B7, is_remote=True, trace_flags=flags, trace_state=STATE)
    return set_span_in_context(NonRecordingSpan(parent))


class _Coin(StaticSampler):
    """A subclass of the SDK's static sampler that decides otherwise: never trusted to be static."""

    def should_sample(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise AssertionError("not called by the test")


@pytest.mark.parametrize(
    "name", ["always_on", "always_off", "parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"]
)
def test_static_decisions_are_the_samplers_own(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", name)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.5")
    sampler: Sampler = _get_from_env_or_default()
    static = _static_decisions(sampler)
    assert static is not None
    for place, parent in ((0, None), (1, _remote_parent(True)), (2, _remote_parent(False))):
        decided = static[place]
        if decided is None:  # the root sampler must be asked: only a ratio root
            assert place == 0 and name == "parentbased_traceidratio"
            continue
        result = sampler.should_sample(parent, TRACE_ID, "POST /x")
        assert decided == (result.decision is Decision.RECORD_AND_SAMPLE)
        assert not result.attributes  # what the fast path adds: nothing
        assert result.trace_state == (STATE if parent is not None else None)  # the fast path: the parent's


@pytest.mark.parametrize(
    "sampler",
    [
        TraceIdRatioBased(0.5),
        _Coin(Decision.RECORD_AND_SAMPLE),
        ParentBased(ALWAYS_ON, remote_parent_sampled=TraceIdRatioBased(0.5)),
        ParentBased(ALWAYS_ON, remote_parent_not_sampled=_Coin(Decision.DROP)),
    ],
)
def test_a_sampler_that_looks_at_more_than_the_parent_is_asked(sampler: Sampler) -> None:
    assert _static_decisions(sampler) is None


def test_a_sampler_without_the_fields_read_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    sampler = ParentBased(ALWAYS_ON)
    monkeypatch.delattr(sampler, "_remote_parent_not_sampled")  # as if a release renamed it
    assert _static_decisions(sampler) is None
    static = StaticSampler(Decision.RECORD_AND_SAMPLE)
    monkeypatch.delattr(static, "_decision")
    assert _static_decisions(static) is None


def test_the_static_samplers_are_fixed_at_every_place() -> None:
    assert _static_decisions(ALWAYS_ON) == (True, True, True)
    assert _static_decisions(ALWAYS_OFF) == (False, False, False)
    assert _static_decisions(ParentBased(ALWAYS_OFF)) == (False, True, False)
    assert _static_decisions(ParentBasedTraceIdRatio(1.0)) == (None, True, False)
