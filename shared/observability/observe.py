"""What every function does for each request: its trace context, its fields, one log line when done."""

from __future__ import annotations

import logging
import time

import flask
from functions_framework.execution_id import EXECUTION_ID_REQUEST_HEADER

from shared.config import Config
from shared.observability import logs, telemetry, tracing

log = logging.getLogger("tumorscope.request")


def _begin() -> None:
    request = flask.request
    flask.g.tumorscope_started = time.perf_counter()
    logs.clear()
    # functions-framework's middleware gives every request an execution id; the line carries it.
    logs.bind(
        execution_id=request.headers.get(EXECUTION_ID_REQUEST_HEADER),
        method=request.method,
        path=request.path,
    )
    tracing.set_current(telemetry.current_span() or tracing.from_carrier(request.headers))


def _line(response: flask.Response) -> flask.Response:
    """One INFO line a request (ERROR for a 5xx), with its status, duration and error code."""
    started = flask.g.get("tumorscope_started")
    if started is not None:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        request = flask.request
        log.log(
            logging.ERROR if response.status_code >= 500 else logging.INFO,
            "%s %s %d in %.1f ms",
            request.method,
            request.path,
            response.status_code,
            duration_ms,
            extra={"status_code": response.status_code, "duration_ms": duration_ms},
        )
    return response


def observe(config: Config) -> None:
    """Set up logging, tracing and (when OTEL_* ask for it) export; a main.py calls it as it is loaded.

    functions-framework loads a main.py within its app's context: that app gets the hooks.
    """
    logs.setup(config.log_format, config.log_level, config.service)
    if not flask.has_app_context():  # imported by other means, e.g. a test reading its ROUTER
        return
    app = flask.current_app._get_current_object()  # werkzeug's documented way to the proxied app
    if config.otel_export:
        telemetry.start(app, config.otel_service_name)
    app.before_request(_begin)  # after OpenTelemetry's own hook, so its server span is current
    if config.log_format == "json":
        app.after_request(_line)
