"""W3C trace context (``traceparent``/``tracestate``): read, continued, started, and the current one.

Hand-written on purpose: it is twenty lines, and without the ``OTEL_*`` variables no
opentelemetry module may be imported (cold start). With them, shared/observability/telemetry.py makes
OpenTelemetry's spans the current context instead.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

#: version-trace_id-parent_id-flags; a later version may append fields after a dash.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
#: W3C: vendors may drop a tracestate over 512 characters; one that long, or not printable ASCII, is dropped.
_MAX_TRACESTATE = 512


@dataclass(frozen=True)
class TraceContext:
    """This service's span (``span_id``) in the trace ``trace_id``, child of ``parent_id`` if any."""

    trace_id: str
    span_id: str
    parent_id: str | None = None
    flags: str = "01"
    tracestate: str = ""

    @property
    def traceparent(self) -> str:
        """The ``traceparent`` that makes what this span sends its child."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def attributes(self) -> dict[str, str]:
        """The CloudEvents distributed-tracing extension attributes (also the HTTP headers)."""
        return {
            "traceparent": self.traceparent,
            **({"tracestate": self.tracestate} if self.tracestate else {}),
        }


def _new_span_id() -> str:
    return secrets.token_hex(8)


def parse_traceparent(value: str | None) -> tuple[str, str, str] | None:
    """(trace_id, parent_id, flags) of a valid ``traceparent``, else None (W3C: then start a trace)."""
    match = _TRACEPARENT.fullmatch((value or "").strip())
    if not match:
        return None
    version, trace_id, parent_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    return trace_id, parent_id, flags


def continue_trace(traceparent: str | None, tracestate: str | None = None) -> TraceContext:
    """A new span that continues ``traceparent``'s trace, or the root span of a new trace."""
    parsed = parse_traceparent(traceparent)
    if parsed is None:
        return TraceContext(secrets.token_hex(16), _new_span_id())
    trace_id, parent_id, flags = parsed
    state = (tracestate or "").strip()
    if len(state) > _MAX_TRACESTATE or not all(" " <= c <= "~" for c in state):
        state = ""
    return TraceContext(trace_id, _new_span_id(), parent_id, flags, state)


def from_carrier(carrier: Mapping[str, str]) -> TraceContext:
    """:func:`continue_trace` from request headers or a CloudEvent's attributes."""
    return continue_trace(carrier.get("traceparent"), carrier.get("tracestate"))


_CURRENT: ContextVar[TraceContext | None] = ContextVar("tumorscope_trace", default=None)


def current() -> TraceContext | None:
    """The span of the request or event being handled, if any."""
    return _CURRENT.get()


def set_current(context: TraceContext | None) -> None:
    _CURRENT.set(context)
