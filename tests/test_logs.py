"""LOG_FORMAT=json: every line a function writes is one JSON object a log store can read."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import requests

from devtools.devserver import stop
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.observability import logs, tracing
from tests.conftest import FunctionProcesses
from tests.helpers import json_lines
from tests.reliability import PrivateRedis, log_lines, wait_until_finished

#: A sample whose values would stand out in a line that leaked them.
SAMPLE = {"radius_mean": 14.5171, "texture_mean": 20.0393}
#: The store's password, made up per run: no line may show it (REDIS_URL carries it).
PASSWORD = secrets.token_hex(12)


def _record(message: str, level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("tumorscope", level, __file__, 1, message, (), None)
    record.__dict__.update(extra)
    return record


def test_a_json_line_has_severity_message_service_time_and_the_request_fields() -> None:
    tracing.set_current(tracing.continue_trace(None))
    logs.clear()
    logs.bind(job_id="a" * 32, event_id="e-1")
    line = json.loads(
        logs.JsonFormatter("render").format(_record("drawn", duration_ms=12.5, status_code=200))
    )
    trace = tracing.current()
    assert line["severity"] == "INFO"
    assert line["message"] == "drawn"
    assert line["service"] == "render"
    assert line["time"].endswith("Z")
    assert (line["trace_id"], line["span_id"]) == (trace.trace_id, trace.span_id)
    assert (line["job_id"], line["event_id"], line["duration_ms"], line["status_code"]) == (
        "a" * 32,
        "e-1",
        12.5,
        200,
    )
    logs.clear()
    tracing.set_current(None)
    assert set(json.loads(logs.JsonFormatter("status").format(_record("x", logging.WARNING)))) == {
        "time",
        "severity",
        "message",
        "service",
        "logger",
    }


def test_every_line_of_every_function_is_json(tmp_path: Path, function_processes: FunctionProcesses) -> None:
    store = PrivateRedis(tmp_path / "redis", password=PASSWORD)
    try:
        load_file(store.client(), BUNDLED_DATASET)
        # gunicorn at info writes its own start and stop lines: they must be JSON too.
        environ = {"REDIS_URL": store.url, "LOG_FORMAT": "json", "GUNICORN_LOG_LEVEL": "info", "THREADS": "2"}
        urls = {"render": function_processes.start("render", environ)}
        urls["status"] = function_processes.start("status", environ)
        urls["graph"] = function_processes.start("graph", environ)
        urls["submit"] = function_processes.start("submit", {**environ, "K_SINK": urls["render"]})

        job_id = requests.post(f"{urls['submit']}/submit", json=SAMPLE, timeout=60).json()["job_id"]
        assert wait_until_finished(urls["status"], job_id)["status"] == "complete"
        assert requests.get(f"{urls['status']}/status/not-a-job", timeout=10).status_code == 400
        assert (
            requests.get(f"{urls['graph']}/graph/histogram?feature=area_mean", timeout=60).status_code == 200
        )
        stop(function_processes.processes)  # gunicorn's shutdown lines are written now
    finally:
        store.stop()

    lines = {name: json_lines(next(tmp_path.glob(f"{name}-*.log"))) for name in urls}
    for name, parsed in lines.items():
        assert {line["service"] for line in parsed} == {name}
        assert any(line["logger"].startswith("gunicorn") for line in parsed), f"no gunicorn line from {name}"
        everything = json.dumps(parsed)
        assert PASSWORD not in everything
        assert "14.5171" not in everything
        assert "20.0393" not in everything
    [submitted] = [line for line in lines["submit"] if line.get("status_code") == 202]
    assert submitted["job_id"] == job_id
    assert submitted["duration_ms"] > 0
    assert submitted["path"] == "/submit"
    [rendered] = [line for line in lines["render"] if line.get("job_id") == job_id and "duration_ms" in line]
    assert rendered["severity"] == "INFO"
    assert rendered["trace_id"] == submitted["trace_id"]
    assert rendered["event_id"] == submitted["event_id"]
    [refused] = [line for line in lines["status"] if line.get("status_code") == 400]
    assert refused["error_code"] == "invalid_job_id"
    [histogram] = [line for line in lines["graph"] if line.get("path") == "/graph/histogram"]
    assert (histogram["status_code"], histogram["cache"]) == (200, "miss")
    assert len(histogram["trace_id"]) == 32


def test_text_lines_are_as_before(loaded_redis, function_processes: FunctionProcesses) -> None:
    submit = function_processes.start("submit", {"REDIS_URL": loaded_redis.url})
    assert requests.post(f"{submit}/submit", json=SAMPLE, timeout=30).status_code == 503  # no K_SINK
    lines = log_lines(function_processes.log_dir, submit, "submit")
    assert lines
    assert all(not line.startswith("{") for line in lines)
    assert any(line.startswith("ERROR submit job ") and "did not accept its event" in line for line in lines)
