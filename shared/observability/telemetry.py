"""OpenTelemetry export of spans and a few metrics, only when the standard ``OTEL_*`` variables ask.

Without them (``Config.otel_export`` false) this module imports nothing from opentelemetry and
every function here costs a branch. With them, OpenTelemetry's SDK reads the rest of its
``OTEL_*`` settings itself (endpoint, headers, protocol, sampler, resource attributes), its
instrumentations trace Flask requests, ``requests`` calls and Redis commands, and
:func:`consumer_span` continues a CloudEvent's trace from its distributed-tracing attributes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import flask

from shared.observability import tracing

_state: dict[str, Any] = {}


def start(app: flask.Flask, service_name: str) -> None:
    """Export to the OTLP endpoint (http/protobuf) and instrument ``app``, ``requests`` and Redis."""
    from opentelemetry import metrics, trace
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: service_name})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(
        resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())]
    )
    metrics.set_meter_provider(meter_provider)

    FlaskInstrumentor().instrument_app(app, excluded_urls="health/readiness,health/liveness")
    RequestsInstrumentor().instrument()
    RedisInstrumentor().instrument()

    meter = metrics.get_meter("tumorscope")
    _state.update(
        tracer=trace.get_tracer("tumorscope"),
        jobs=meter.create_counter("tumorscope.jobs", unit="{job}", description="jobs by outcome"),
        render_duration=meter.create_histogram(
            "tumorscope.render.duration", unit="s", description="time render takes over a job's event"
        ),
        plot_cache=meter.create_counter(
            "tumorscope.plot_cache.requests", unit="{request}", description="plot cache hits and misses"
        ),
    )


def _as_trace_context(span: Any) -> tracing.TraceContext | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    parent = getattr(span, "parent", None)
    return tracing.TraceContext(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_id=f"{parent.span_id:016x}" if parent else None,
        flags=f"{int(context.trace_flags):02x}",
        tracestate=context.trace_state.to_header(),
    )


def current_span() -> tracing.TraceContext | None:
    """The span OpenTelemetry is recording now (e.g. Flask's server span), if export is on."""
    if not _state:
        return None
    from opentelemetry import trace

    return _as_trace_context(trace.get_current_span())


@contextlib.contextmanager
def consumer_span(name: str, carrier: Mapping[str, str]) -> Iterator[tracing.TraceContext | None]:
    """A span continuing the trace of ``carrier`` (a CloudEvent's attributes); None when export is off."""
    if not _state:
        yield None
        return
    from opentelemetry import propagate, trace

    parent = propagate.extract({key: str(value) for key, value in carrier.items()})
    with _state["tracer"].start_as_current_span(name, context=parent, kind=trace.SpanKind.CONSUMER) as span:
        yield _as_trace_context(span)


def count_job(outcome: str) -> None:
    if _state:
        _state["jobs"].add(1, {"outcome": outcome})


def record_render(seconds: float, outcome: str) -> None:
    if _state:
        _state["render_duration"].record(seconds, {"outcome": outcome})


def count_plot_cache(hit: bool) -> None:
    if _state:
        _state["plot_cache"].add(1, {"result": "hit" if hit else "miss"})
