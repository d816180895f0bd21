"""``FinishedSpan``: the gateway's record of one finished span, what ``tracing`` hands the SDK's batch processor.

Why not the SDK's ``ReadableSpan``: every span of a traced request is known in full when it is recorded, and
building a ``ReadableSpan`` (a dozen keyword arguments, a ``SpanContext`` whose constructor validates its
ids) for each of a request's five spans was most of what tracing cost on the request path. A record is one
slotted object with the fields as the OTLP ``Span`` message has them (integer ids, nanosecond times); it is
its own span context (``context`` returns it: ``trace_id``, ``span_id``, ``trace_flags``, ``trace_state``,
``is_remote`` False), which is what the batch processor reads to keep only sampled spans.

A request's SERVER span record also carries the children recorded while it was open (``children``, compact
tuples): the batch processor gets one item per request rather than one per span, and the export thread,
not the request, turns them into spans.

The OTLP/gRPC exporter encodes records directly (``otlp_encoding``); ``to_readable`` makes the SDK's span
of the same content, for the OTLP/HTTP exporter and for spans the lean encoding leaves to the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope


#: The status of a span that set none, shared (the encoder knows it by identity).
UNSET_STATUS = Status(StatusCode.UNSET)
#: A child span that travels with its request's SERVER span: ``(name, span_id, start_time, end_time,
#: attributes)``; INTERNAL, status unset, no events, the rest (trace, flags, state, origin) its parent's.
Child: TypeAlias = tuple[str, int, int, int, Mapping[str, Any]]


class SpanParent(Protocol):
    """What a span keeps of its parent: a ``SpanContext``, or anything with the same fields (the tracing
    module's request record, which makes no ``SpanContext`` per request)."""

    @property
    def trace_id(self) -> int: ...
    @property
    def span_id(self) -> int: ...
    @property
    def is_remote(self) -> bool: ...
    @property
    def trace_flags(self) -> TraceFlags: ...
    @property
    def trace_state(self) -> TraceState | None: ...


class RemoteParent:
    """The caller's span, read from a plain W3C ``traceparent`` (no ``tracestate``): what a span keeps of a
    remote parent, without the ``SpanContext`` (and its validation) the propagator would make."""

    __slots__ = ("span_id", "trace_flags", "trace_id")

    is_remote = True
    #: As the SDK's ``SpanContext`` has it when no ``tracestate`` came: the shared empty state.
    trace_state = DEFAULT_TRACE_STATE

    def __init__(self, trace_id: int, span_id: int, trace_flags: TraceFlags) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags


class Origin:
    """What every span of one tracer provider shares: its resource and instrumentation scope."""

    __slots__ = ("resource", "scope")

    def __init__(self, resource: Resource, scope: InstrumentationScope) -> None:
        self.resource = resource
        self.scope = scope


class FinishedSpan:
    """One finished span (see the module's docstring); times in nanoseconds since the epoch."""

    __slots__ = (
        "attributes",
        "children",
        "end_time",
        "events",
        "kind",
        "name",
        "origin",
        "parent",
        "span_id",
        "start_time",
        "status",
        "trace_flags",
        "trace_id",
        "trace_state",
    )

    #: As a span context: made here, not received from a caller.
    is_remote = False
    is_valid = True

    def __init__(
        self,
        origin: Origin,
        name: str,
        kind: SpanKind,
        trace_id: int,
        span_id: int,
        trace_flags: TraceFlags,
        trace_state: TraceState | None,
        parent: SpanParent | None,
        attributes: Mapping[str, Any],
        start_time: int,
        end_time: int,
        status: Status,
        events: Sequence[Event] = (),
        children: Sequence[Child] = (),
    ) -> None:
        self.origin = origin
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.trace_state = trace_state
        self.parent = parent
        self.attributes = attributes
        self.start_time = start_time
        self.end_time = end_time
        self.status = status
        self.events = events
        #: Children recorded while this span was open, exported with it (``Child``; see ``tracing``).
        self.children = children

    @property
    def context(self) -> FinishedSpan:
        """The span's own context: the record itself (ids, flags, trace state)."""
        return self

    def child_spans(self) -> list[FinishedSpan]:
        """The children that travel with this span, as records of their own (their parent: this span)."""
        return [child_record(self.origin, self, child) for child in self.children]

    def to_readable(self) -> ReadableSpan:
        """The SDK's finished span of the same content (this span alone: ``readable`` adds its children)."""
        from opentelemetry.sdk.trace import ReadableSpan

        context = SpanContext(
            self.trace_id, self.span_id, is_remote=False, trace_flags=self.trace_flags, trace_state=self.trace_state
        )
        parent = self.parent
        if parent is not None and type(parent) is not SpanContext:
            parent = SpanContext(
                parent.trace_id,
                parent.span_id,
                is_remote=parent.is_remote,
                trace_flags=parent.trace_flags,
                trace_state=parent.trace_state,
            )
        return ReadableSpan(
            self.name,
            context,
            parent,
            self.origin.resource,
            self.attributes,
            events=self.events,
            kind=self.kind,
            status=self.status,
            start_time=self.start_time,
            end_time=self.end_time,
            instrumentation_scope=self.origin.scope,
        )


def child_record(origin: Origin, parent: SpanParent, child: Child) -> FinishedSpan:
    """``child`` as a record of its own, in ``parent``'s trace (its flags and state) and under it."""
    name, span_id, start, end, attributes = child
    return FinishedSpan(
        origin,
        name,
        SpanKind.INTERNAL,
        parent.trace_id,
        span_id,
        parent.trace_flags,
        parent.trace_state,
        parent,
        attributes,
        start,
        end,
        UNSET_STATUS,
    )


def readable(spans: Sequence[Any]) -> list[ReadableSpan]:
    """``spans`` as SDK spans: records converted (each record's children first, then the record), anything
    else as it is."""
    out: list[ReadableSpan] = []
    for span in spans:
        if type(span) is not FinishedSpan:
            out.append(span)
            continue
        if span.children:
            out += [child.to_readable() for child in span.child_spans()]
        out.append(span.to_readable())
    return out
