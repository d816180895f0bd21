"""OpenTelemetry tracing of requests, off unless ``CLASSIFIER_TRACING__ENABLED=true``.

Configured with the standard ``OTEL_*`` variables, read by the OpenTelemetry SDK itself: the exporter's
protocol (``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`` or ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc`` or
``http/protobuf``, the default as the specification says), endpoint, headers and TLS, the sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the service name (``OTEL_SERVICE_NAME``), span
limits (``OTEL_SPAN_ATTRIBUTE_*``) and the batch processor (``OTEL_BSP_*``).

Spans of one request: the surface's SERVER span (``POST /v1/models/...`` or the gRPC method; its parent
is the caller's W3C ``traceparent`` when one is sent and valid, a malformed one is ignored), with the
children ``parse`` (transport decoding, from the request's start to the core), ``preprocess``,
``queue wait`` and ``model call`` (embedded backend, with the batch's size), or ``TF Serving Predict``
(a CLIENT span whose context goes to TF Serving as ``traceparent`` metadata). The server span gets the
model, version, instance count and outcome.

When tracing is off every helper returns at its first line and no span object is made: ``span()`` hands
back one shared ``nullcontext``. The provider is process-wide, installed by the gateway that starts with
tracing on and removed by its stop.

How spans are made, and why (measured at 100% sampling, ``BENCH_EXTRAS=tracing make bench``): the SDK's
``Tracer.start_span`` / ``Span.end`` cost about 40 µs a span on the bench machine (sampler call, locks,
attribute cleaning, limits, events and links lists), five spans a request. Every span of a request is
known in full when it is recorded (its ids, its times, its attributes), so this module

- asks the provider's sampler once per request, for the SERVER span, before any span work; children
  follow that decision, as every sampler the SDK configures from ``OTEL_TRACES_SAMPLER`` decides for a
  child of a local sampled span (parent-based ones by the parent, the others by the trace id or always);
  an unsampled request makes no span at all. When the sampler's answer is fixed by the parent alone (the
  SDK's ``always_*`` and ``parentbased_*`` samplers; see ``_static_decisions``) that answer is taken
  without the call;
- keeps the SERVER span's ids on the request's record, which is also what its children name as parent: no
  ``SpanContext`` is made per request (nor ``TraceFlags``: the few values are made once);
- reads a plain ``traceparent`` (version 00, no ``tracestate``) itself, as the SDK's W3C propagator reads
  it (a test compares the two on generated values), when the sampler's decision is static; anything else
  goes to the propagator;
- makes the SERVER span as one ``span_record.FinishedSpan`` (a slotted record with the OTLP fields,
  cheaper to build than the SDK's ``ReadableSpan`` and its validated ``SpanContext``), with ids from the
  provider's id generator, its resource and span limits (applied when a limit could change something), and
  hands it to the SDK's batch processor's ``on_end``, as ``Span.end`` does: the processor, the exporters'
  transport and retries and the ``OTEL_*`` settings are the SDK's;
- keeps the INTERNAL children as compact tuples on the SERVER span's record, which carries them to the
  processor: one item per request, not five, and the export thread makes them spans. So the batch
  processor's sizes (``OTEL_BSP_MAX_QUEUE_SIZE``, ``OTEL_BSP_MAX_EXPORT_BATCH_SIZE``) count requests, each
  with its few spans (a stream's children go on in groups of at most ``_HELD_CHILDREN``);
- keeps a request's state (the SERVER span's ids, times and attributes, its arrival time) in one context
  variable: children are recorded with explicit start and end times, never by attaching and detaching
  OpenTelemetry's current context per span;
- over OTLP/gRPC, encodes records straight to the wire bytes with ``service.observability.otlp_encoding``
  (a fraction of the SDK's cost: the resource and scope are encoded once); over OTLP/HTTP each record
  becomes the SDK's ``ReadableSpan`` and the SDK's encoder runs, with the resource's hash, which it
  computes from a JSON dump for every exported span, computed once (``_FixedResource``).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import traceback
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, cast

from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    get_current_span,
    set_span_in_context,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.observability.span_record import (
    UNSET_STATUS,
    Child,
    FinishedSpan,
    Origin,
    RemoteParent,
    SpanParent,
    child_record,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import Event, SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Sampler

#: What every span helper returns while tracing is off: one shared no-op context (yields None).
NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()
_propagator = TraceContextTextMapPropagator()
_UNSET = UNSET_STATUS
_NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
#: Children a request's SERVER span holds until it ends; a unary request records four, a stream one per message.
_HELD_CHILDREN = 16
#: ``annotate``'s attribute names, built once rather than per request.
_ANNOTATION_KEYS = {key: f"classifier.{key}" for key in ("model", "version", "instances")}


class _Pipeline:
    """What spans are made with and handed to, taken from the provider once when tracing starts."""

    __slots__ = (
        "bounded",
        "ids",
        "limits",
        "new_span_id",
        "on_end",
        "origin",
        "processor",
        "provider",
        "sampled",
        "sampler",
        "static",
    )

    def __init__(self, provider: TracerProvider, processor: BatchSpanProcessor, limits: SpanLimits) -> None:
        from opentelemetry.sdk.trace.sampling import Decision
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        self.sampled = Decision.RECORD_AND_SAMPLE

        self.provider = provider
        self.processor = processor
        self.on_end: Callable[[Any], None] = processor.on_end
        self.sampler: Sampler = provider.sampler
        #: The sampler's decision for a request without a parent, a sampled parent and an unsampled one, when
        #: it is fixed (see ``_static_decisions``); None: the sampler is asked for every request.
        self.static = _static_decisions(self.sampler)
        self.ids: IdGenerator = provider.id_generator
        self.new_span_id: Callable[[], int] = provider.id_generator.generate_span_id
        self.origin = Origin(provider.resource, InstrumentationScope("service.observability"))
        self.limits = limits
        # The SDK cleans and bounds attributes on every set; ours are scalars, few, so bounding changes
        # nothing unless a length limit is set (none by default) or the count limit is lower than ours.
        self.bounded = limits.max_span_attribute_length is not None or (limits.max_span_attributes or 0) < 32

    def attributes(self, attributes: dict[str, Any] | None) -> Mapping[str, Any]:
        """``attributes`` as the span keeps them: bounded by the span limits when those could change them."""
        if not attributes:
            return _NO_ATTRIBUTES
        if not self.bounded:
            return attributes
        from opentelemetry.attributes import BoundedAttributes

        return BoundedAttributes(
            self.limits.max_span_attributes,
            attributes,
            max_value_len=self.limits.max_span_attribute_length,
            immutable=True,
        )


def _static_decisions(sampler: Sampler) -> tuple[bool | None, bool, bool] | None:
    """Whether a SERVER span is sampled, by whether its request has no parent, a sampled remote parent or an
    unsampled one (None at the first place: the root sampler must be asked), when that is all the sampler
    looks at; None when it looks at more.

    The SDK's samplers that ``OTEL_TRACES_SAMPLER`` names are static (``always_on``, ``always_off``) or
    parent-based with static delegates for a parent (``parentbased_*``; the ratio one has a ratio root).
    A static sampler's result is its decision, no attributes, and the parent's trace state: what
    ``_start_request`` makes without the call, which costs a context lookup and a result object per request.
    Only the SDK's own classes are trusted, by exact type: a subclass may decide otherwise."""
    from opentelemetry.sdk.trace.sampling import Decision, ParentBased, StaticSampler

    # The SDK's own classes, read by their private fields: a release that renames one makes this answer None
    # (the sampler is asked, as before), never an error.
    def fixed(delegate: object) -> bool | None:
        decision = getattr(delegate, "_decision", None) if type(delegate) is StaticSampler else None
        return None if decision is None else decision is Decision.RECORD_AND_SAMPLE

    if type(sampler) is StaticSampler:
        always = fixed(sampler)
        return None if always is None else (always, always, always)
    if isinstance(sampler, ParentBased) and type(sampler).should_sample is ParentBased.should_sample:
        # The delegates a request's parent picks: it is always remote (a traceparent header or metadata).
        sampled = fixed(getattr(sampler, "_remote_parent_sampled", None))
        unsampled = fixed(getattr(sampler, "_remote_parent_not_sampled", None))
        if sampled is not None and unsampled is not None:
            return fixed(getattr(sampler, "_root", None)), sampled, unsampled
    return None


_pipeline: _Pipeline | None = None
#: Wall-clock nanoseconds minus monotonic ones, fixed when tracing starts, so every span of a request (made
#: now or recorded afterwards from monotonic times) is on one timeline.
_offset_ns = 0


class _Request:
    """One traced request: its SERVER span's ids, flags, trace state, parent, name, attributes and status,
    and when it reached the surface (``time.monotonic()``). ``sampled`` False: nothing is recorded, the
    context still travels on (``outgoing_metadata``). It has the part of a span's interface the surfaces
    use, and it is the parent its children name (``span_id``, ``is_remote``), so no ``SpanContext`` (whose
    constructor validates the ids, and whose fields are Python properties) is made unless one is asked for."""

    __slots__ = (
        "attributes",
        "children",
        "events",
        "kind",
        "name",
        "parent",
        "sampled",
        "span_id",
        "started",
        "status",
        "trace_flags",
        "trace_id",
        "trace_state",
    )

    #: As a parent: made here, not received from a caller.
    is_remote = False

    def __init__(
        self,
        name: str,
        kind: SpanKind,
        ids: tuple[int, int, TraceFlags, TraceState | None],
        parent: SpanParent | None,
        attributes: dict[str, Any],
        started: float,
    ) -> None:
        self.name = name
        self.kind = kind
        self.trace_id, self.span_id, self.trace_flags, self.trace_state = ids
        self.parent = parent
        self.sampled = self.trace_flags.sampled
        self.attributes = attributes
        self.started = started
        self.status = _UNSET
        self.events: list[Event] = []
        #: The INTERNAL children recorded while the span is open, handed on with it when it ends (a long
        #: stream's in groups, see ``record_span``); None: each child goes to the processor alone (not a
        #: SERVER span, not sampled, or ended).
        self.children: list[Child] | None = [] if self.sampled and kind is SpanKind.SERVER else None

    @property
    def context(self) -> SpanContext:
        """The span's context, as the API has it."""
        return SpanContext(
            self.trace_id, self.span_id, is_remote=False, trace_flags=self.trace_flags, trace_state=self.trace_state
        )

    def set_attribute(self, key: str, value: Any) -> None:
        """Set one attribute of the span."""
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        """Set attributes of the span."""
        self.attributes.update(attributes)

    def set_status(self, status: Status) -> None:
        """Set the span's status."""
        self.status = status

    def record_exception(self, exc: BaseException) -> None:
        """Add an ``exception`` event and an ERROR status, as the SDK's span does for an escaping exception."""
        self.events.append(_exception_event(exc))
        self.status = Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")

    def end(self, pipeline: _Pipeline, ended: float) -> None:
        """Hand the finished span to the processor, as the SDK's ``Span.end`` does (when sampled)."""
        if not self.sampled:
            return
        children, self.children = self.children, None
        pipeline.on_end(
            FinishedSpan(
                pipeline.origin,
                self.name,
                self.kind,
                self.trace_id,
                self.span_id,
                self.trace_flags,
                self.trace_state,
                self.parent,
                pipeline.attributes(self.attributes),
                _wall_ns(self.started),
                _wall_ns(ended),
                self.status,
                tuple(self.events),
                children or (),
            )
        )


#: The request being handled in this context (set only while tracing).
_request: ContextVar[_Request | None] = ContextVar("traced_request", default=None)
#: The CLIENT span of an outgoing call in this context, whose context ``outgoing_metadata`` sends on.
_client: ContextVar[_Request | None] = ContextVar("traced_client_call", default=None)


def enable_tracing(service_name: str = "classifier-gateway") -> None:
    """Install a tracer provider with an OTLP exporter chosen by the ``OTEL_*`` environment."""
    global _pipeline, _offset_ns
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import SpanLimits, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    from service.observability.otlp_encoding import LeanOTLPSpanExporter, ReadableOTLPSpanExporter

    exporter = LeanOTLPSpanExporter() if protocol == "grpc" else ReadableOTLPSpanExporter()
    # OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES name the service; without them, the SDK says "unknown_service".
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    limits = SpanLimits()
    provider = TracerProvider(resource=_fixed_resource(resource), span_limits=limits)
    processor = BatchSpanProcessor(exporter)
    provider.add_span_processor(processor)  # the provider's shutdown flushes it
    _offset_ns = time.time_ns() - time.monotonic_ns()
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        provider.shutdown()
        return
    _pipeline = _Pipeline(provider, processor, limits)


def disable_tracing() -> None:
    """Export what is buffered and remove the provider."""
    global _pipeline
    pipeline, _pipeline = _pipeline, None
    if pipeline is not None:
        pipeline.provider.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are being made."""
    return _pipeline is not None


def _fixed_resource(resource: Any) -> Any:
    from opentelemetry.sdk.resources import Resource

    class _FixedResource(Resource):
        """A resource whose hash is computed once: the OTLP encoder groups spans by resource, hashing it for
        every span, and ``Resource.__hash__`` dumps its attributes to JSON each time. It never changes."""

        def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
            super().__init__(attributes, schema_url)
            self._hash = super().__hash__()

        def __hash__(self) -> int:
            return self._hash

        def __eq__(self, other: object) -> bool:
            return other is self or super().__eq__(other)

    return _FixedResource(resource.attributes, resource.schema_url)


def _exception_event(exc: BaseException) -> Event:
    # The event the SDK's ``Span.record_exception`` adds (semantic conventions' exception.* attributes).
    from opentelemetry.sdk.trace import Event

    kind = type(exc)
    module = kind.__module__
    attributes = {
        "exception.type": f"{module}.{kind.__qualname__}" if module and module != "builtins" else kind.__qualname__,
        "exception.message": str(exc),
        "exception.stacktrace": "".join(traceback.format_exception(exc)),
        "exception.escaped": "False",
    }
    return Event("exception", attributes)


#: ``TraceFlags`` by value, made once: a request's flags are one of a few.
_TRACE_FLAGS = {value: TraceFlags(value) for value in range(256)}


#: A W3C ``traceparent`` of version 00 exactly as senders write it (no blanks, no further fields).
_PLAIN_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
#: What ``_plain_parent`` answers when the propagator must read the carrier.
_ASK_PROPAGATOR = object()


def _plain_parent(carrier: Mapping[str, str]) -> RemoteParent | object | None:
    """The caller's span read from a plain ``traceparent`` alone (None: no valid parent), the way the SDK's
    W3C propagator reads it, for a fraction of its cost (it builds a ``SpanContext``, a span and a context);
    ``_ASK_PROPAGATOR`` for anything else (a ``tracestate``, another version, blanks, a malformed value)."""
    header = carrier.get("traceparent")
    if header is None:
        return None if "tracestate" not in carrier else _ASK_PROPAGATOR
    if "tracestate" in carrier or type(header) is not str or len(header) != 55:
        return _ASK_PROPAGATOR
    match = _PLAIN_TRACEPARENT.fullmatch(header)
    if match is None:
        return _ASK_PROPAGATOR
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None  # the propagator's answer too: all-zero ids are invalid
    return RemoteParent(trace_id, span_id, _TRACE_FLAGS[int(match[3], 16)])


def _start_request(pipeline: _Pipeline, name: str, carrier: Mapping[str, str], attributes: dict[str, Any]) -> _Request:
    # The SDK's start of a SERVER span: the sampler's decision first, ids only as that decision needs them.
    parent: SpanParent | None
    parent_context: Context | None = None  # the sampler's argument: read by the propagator only when asked
    found = None
    if carrier:  # a sampler that is asked takes the propagator's context
        found = _plain_parent(carrier) if pipeline.static is not None else _ASK_PROPAGATOR
    if found is _ASK_PROPAGATOR:
        parent_context = _propagator.extract(carrier)  # malformed: an empty context
        remote = get_current_span(parent_context).get_span_context()
        parent = remote if remote.is_valid else None
    else:
        parent = cast("RemoteParent | None", found)
    if parent is not None:
        trace_id = parent.trace_id
        random_trace_id = parent.trace_flags.random_trace_id
    else:
        trace_id = pipeline.ids.generate_trace_id()
        random_trace_id = pipeline.ids.is_trace_id_random()
    static = pipeline.static
    sampled: bool | None = None
    if static is not None:
        sampled = static[0] if parent is None else static[1] if parent.trace_flags.sampled else static[2]
    if sampled is not None:  # what the static sampler would answer (see ``_static_decisions``)
        trace_state = parent.trace_state if parent is not None else None
    else:
        decision = pipeline.sampler.should_sample(parent_context, trace_id, name, SpanKind.SERVER, attributes)
        sampled = decision.decision is pipeline.sampled
        trace_state = decision.trace_state
        if decision.attributes:
            attributes = {**attributes, **decision.attributes}
    flags = TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT
    if random_trace_id:
        flags |= TraceFlags.RANDOM_TRACE_ID
    ids = (trace_id, pipeline.new_span_id(), _TRACE_FLAGS[flags], trace_state)
    return _Request(name, SpanKind.SERVER, ids, parent, attributes, time.monotonic())


class _ServerSpan:
    """The SERVER span of one request, as a context manager yielding the span (see ``server_span``)."""

    __slots__ = ("_pipeline", "_request", "_token")

    def __init__(self, pipeline: _Pipeline, name: str, carrier: Mapping[str, str], attributes: dict[str, Any]) -> None:
        self._pipeline = pipeline
        self._request = _start_request(pipeline, name, carrier, attributes)
        self._token: Token[_Request | None] | None = None

    def __enter__(self) -> _Request:
        self._token = _request.set(self._request)
        return self._request

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        request = self._request
        if exc is not None and not isinstance(exc, GeneratorExit):
            request.record_exception(exc)
        request.end(self._pipeline, time.monotonic())
        if self._token is not None:
            # A stream's generator closed from another context cannot reset; that context ends anyway.
            with contextlib.suppress(ValueError):
                _request.reset(self._token)


class _ChildSpan:
    """A child of the request's span around a block, made when the block ends with its start and end times."""

    __slots__ = ("_name", "_started")

    def __init__(self, name: str) -> None:
        self._name = name
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.monotonic()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        record_span(self._name, self._started, time.monotonic())


class _ClientSpan:
    """A child span of another ``kind`` (the TF Serving call's CLIENT span) around a block: current for
    ``outgoing_metadata`` while the block runs, recorded (with an escaping exception) when it ends."""

    __slots__ = ("_pipeline", "_span", "_token")

    def __init__(self, pipeline: _Pipeline, request: _Request, name: str, kind: SpanKind) -> None:
        self._pipeline = pipeline
        ids = (request.trace_id, pipeline.new_span_id(), request.trace_flags, request.trace_state)
        self._span = _Request(name, kind, ids, request, {}, 0.0)
        self._token: Token[_Request | None] | None = None

    def __enter__(self) -> _Request:
        self._span.started = time.monotonic()
        self._token = _client.set(self._span)
        return self._span

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            with contextlib.suppress(ValueError):
                _client.reset(self._token)
        if exc is not None:
            self._span.record_exception(exc)
        self._span.end(self._pipeline, time.monotonic())


def server_span(name: str, carrier: Mapping[str, str], **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """The SERVER span of one request, child of ``carrier``'s ``traceparent`` when valid; yields the span
    (an object with ``set_attribute``, ``set_attributes`` and ``set_status``)."""
    pipeline = _pipeline
    if pipeline is None:
        return NO_SPAN
    return _ServerSpan(pipeline, name, carrier, attributes)


def span(name: str, kind: SpanKind = SpanKind.INTERNAL) -> contextlib.AbstractContextManager[Any]:
    """A child span of the request's span around a block (None when tracing is off, when no request is
    being handled, e.g. the readiness self-check, or when the request is not sampled). An INTERNAL span
    yields None and is recorded when the block ends; any other kind (the TF Serving call's CLIENT span) is
    current for ``outgoing_metadata`` while the block runs, and yielded."""
    pipeline = _pipeline
    if pipeline is None:
        return NO_SPAN
    request = _request.get()
    if request is None:
        return NO_SPAN
    if kind is SpanKind.INTERNAL:
        return _ChildSpan(name) if request.sampled else NO_SPAN
    return _ClientSpan(pipeline, request, name, kind)


def record_span(name: str, start: float, end: float, **attributes: Any) -> None:
    """A finished child span of the request's span, from ``start`` to ``end`` (``time.monotonic()`` seconds).

    It travels with the request's SERVER span (one item for the batch processor per request) unless that
    span has ended or is not a SERVER span; a long stream's children are handed on in groups."""
    pipeline = _pipeline
    if pipeline is None:
        return
    request = _request.get()
    if request is None or not request.sampled:
        return
    offset = _offset_ns  # _wall_ns, inlined: two calls of a child span's few microseconds
    child = (
        name,
        pipeline.new_span_id(),
        int(start * 1e9) + offset,
        int(end * 1e9) + offset,
        pipeline.attributes(attributes) if attributes else _NO_ATTRIBUTES,
    )
    children = request.children
    if children is None:
        pipeline.on_end(child_record(pipeline.origin, request, child))
        return
    children.append(child)
    if len(children) >= _HELD_CHILDREN:  # a long stream's: handed on now, so nothing grows with it
        for held in children:
            pipeline.on_end(child_record(pipeline.origin, request, held))
        children.clear()


def _wall_ns(monotonic_s: float) -> int:
    return int(monotonic_s * 1e9) + _offset_ns


def parsed() -> None:
    """The core has the decoded request: record ``parse`` from the request's arrival until now."""
    if _pipeline is None:
        return
    request = _request.get()
    if request is not None:
        record_span("parse", request.started, time.monotonic())


def annotate(outcome: str, **attributes: Any) -> None:
    """Set ``classifier.<name>`` attributes and the outcome on the request's span; an outcome other than
    ``ok`` marks it as an error."""
    if _pipeline is None:
        return
    request = _request.get()
    if request is None:
        return
    named = request.attributes
    for key, value in attributes.items():
        if value is not None:
            named[_ANNOTATION_KEYS.get(key) or f"classifier.{key}"] = value
    named["classifier.outcome"] = outcome
    if outcome != "ok":
        request.status = Status(StatusCode.ERROR, outcome)


def outgoing_metadata() -> tuple[tuple[str, str], ...] | None:
    """The current outgoing call's CLIENT span context as gRPC metadata (``traceparent``), None when tracing
    is off or outside such a span."""
    if _pipeline is None:
        return None
    current = _client.get()
    if current is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=set_span_in_context(NonRecordingSpan(current.context)))
    return tuple(carrier.items())
