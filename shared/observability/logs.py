"""How a function's lines look: the text of ``make dev``, or one JSON object a line for a log store."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from shared.observability import tracing

#: What a line may carry beside severity, message, service and time, when it is known.
FIELDS = (
    "job_id",
    "event_id",
    "trace_id",
    "span_id",
    "execution_id",
    "method",
    "path",
    "status_code",
    "error_code",
    "outcome",
    "duration_ms",
)
_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("tumorscope_log_context", default={})  # noqa: B039 - never mutated


def bind(**fields: Any) -> None:
    """Add ``fields`` to every line written for the request or event being handled."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


def clear() -> None:
    """Forget the fields of the previous request (a worker thread handles one after another)."""
    _CONTEXT.set({})


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``severity``, ``message``, ``service``, ``time`` and the known FIELDS."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "severity": record.levelname,
            "message": record.getMessage(),
            "service": self.service,
            "logger": record.name,
        }
        trace = tracing.current()
        if trace is not None:
            line["trace_id"], line["span_id"] = trace.trace_id, trace.span_id
        line.update(_CONTEXT.get())
        line.update({name: record.__dict__[name] for name in FIELDS if name in record.__dict__})
        line.update(getattr(record, "fields", {}))  # extra={"fields": {...}}: a line's own fields
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _format_gunicorn_lines(formatter: logging.Formatter) -> None:
    """Give gunicorn's own loggers ``formatter`` once functions-framework starts it (after this import).

    gunicorn replaces its handlers when its arbiter starts, and functions-framework passes it
    no logging configuration, so its setup is wrapped here: its lines then stay JSON too.
    """
    try:
        from gunicorn import glogging
    except ImportError:  # functions-framework's debug server (werkzeug) logs through the root logger
        return
    setup = glogging.Logger.setup
    if getattr(setup, "tumorscope", False):
        return

    def setup_then_format(self: glogging.Logger, cfg: Any) -> None:
        setup(self, cfg)
        for handler in (*self.error_log.handlers, *self.access_log.handlers):
            handler.setFormatter(formatter)

    setup_then_format.tumorscope = True  # type: ignore[attr-defined]
    glogging.Logger.setup = setup_then_format


def setup(log_format: str, level: str, service: str) -> None:
    """Every line of this process as JSON on stdout, or as text (``LEVEL service message``) on stderr."""
    handler = logging.StreamHandler(sys.stdout if log_format == "json" else sys.stderr)
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter(service)
        _format_gunicorn_lines(formatter)
        logging.captureWarnings(True)  # warnings.warn() lines become JSON lines too
    else:
        formatter = logging.Formatter(f"%(levelname)s {service} %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
