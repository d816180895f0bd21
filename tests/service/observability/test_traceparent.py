"""The caller's span read from a plain W3C ``traceparent`` without the SDK's propagator is the span the
propagator reads: the same ids, flags and trace state for every value, well formed or not, and anything but
a plain version-00 value with no ``tracestate`` is left to the propagator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.trace import TraceState, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.observability.span_record import RemoteParent
from service.observability.tracing import _ASK_PROPAGATOR, _plain_parent

_HEX = "0123456789abcdef"
_propagator = TraceContextTextMapPropagator()


def _propagators(carrier: dict[str, str]) -> tuple[int, int, int, object] | None:
    context = get_current_span(_propagator.extract(carrier)).get_span_context()
    if not context.is_valid:
        return None
    assert context.is_remote
    return context.trace_id, context.span_id, int(context.trace_flags), context.trace_state


def _ours(carrier: dict[str, str]) -> object:
    found = _plain_parent(carrier)
    if found is None or found is _ASK_PROPAGATOR:
        return found
    assert isinstance(found, RemoteParent) and found.is_remote
    return found.trace_id, found.span_id, int(found.trace_flags), found.trace_state


def _field(size: int) -> st.SearchStrategy[str]:
    # Mostly well formed, sometimes all zeros, upper case or another length.
    return st.one_of(
        st.text(_HEX, min_size=size, max_size=size),
        st.just("0" * size),
        st.text(_HEX.upper(), min_size=size, max_size=size),
        st.text(_HEX + "xyz-", min_size=size - 1, max_size=size + 1),
    )


_traceparents = st.one_of(
    st.builds(
        lambda version, trace, span, flags, extra: f"{version}-{trace}-{span}-{flags}{extra}",
        st.sampled_from(["00", "01", "ff", "0g", "cc"]),
        _field(32),
        _field(16),
        _field(2),
        st.sampled_from(["", "", "", "-more", " ", "\t", "\n", "-"]),
    ),
    st.text(max_size=60),
)


@settings(max_examples=500, deadline=None)
@given(_traceparents, st.booleans())
def test_every_traceparent_reads_as_the_propagator_reads_it(traceparent: str, with_state: bool) -> None:
    carrier = {"traceparent": traceparent}
    if with_state:
        carrier["tracestate"] = "vendor=a1"
    ours = _ours(carrier)
    if ours is _ASK_PROPAGATOR:
        return  # the propagator reads it, so the two cannot differ
    assert ours == _propagators(carrier)


def test_a_plain_traceparent_is_read_without_the_propagator() -> None:
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    expected = (0x4BF92F3577B34DA6A3CE929D0E0E4736, 0xF067AA0BA902B7, 1, TraceState())
    assert _ours({"traceparent": traceparent}) == expected
    assert _ours({"traceparent": traceparent}) == _propagators({"traceparent": traceparent})
    assert _ours({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}) is None  # an invalid trace id
    assert _ours({}) is None


def test_a_trace_state_or_an_odd_form_goes_to_the_propagator() -> None:
    plain = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert _ours({"traceparent": plain, "tracestate": "vendor=a1"}) is _ASK_PROPAGATOR
    assert _ours({"tracestate": "vendor=a1"}) is _ASK_PROPAGATOR
    assert _ours({"traceparent": f" {plain}"}) is _ASK_PROPAGATOR
    assert _ours({"traceparent": "01" + plain[2:]}) is _ASK_PROPAGATOR
