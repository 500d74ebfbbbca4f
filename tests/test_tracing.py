"""A job's W3C trace: from the client's traceparent through submit, its CloudEvent and render."""

from __future__ import annotations

import json

import pytest
import requests
from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent, from_http

from shared.observability import tracing
from shared.store.jobs import new_job_id
from tests.conftest import FunctionProcesses, RedisServer
from tests.reliability import Broker, log_lines, wait_for, wait_until_finished

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CLIENT_SPAN}-01"
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def test_a_traceparent_is_continued_with_a_span_of_our_own() -> None:
    context = tracing.continue_trace(TRACEPARENT, TRACESTATE)
    assert (context.trace_id, context.parent_id, context.flags) == (TRACE_ID, CLIENT_SPAN, "01")
    assert len(context.span_id) == 16
    assert context.span_id != CLIENT_SPAN
    assert context.traceparent == f"00-{TRACE_ID}-{context.span_id}-01"
    assert context.attributes() == {"traceparent": context.traceparent, "tracestate": TRACESTATE}


@pytest.mark.parametrize(
    "traceparent",
    [
        None,
        "",
        "garbage",
        f"ff-{TRACE_ID}-{CLIENT_SPAN}-01",  # version ff is invalid
        f"00-{'0' * 32}-{CLIENT_SPAN}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID.upper()}-{CLIENT_SPAN}-01",  # upper case is not W3C
        f"00-{TRACE_ID}-{CLIENT_SPAN}-01-extra",  # version 00 has exactly four fields
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(traceparent: str | None) -> None:
    context = tracing.continue_trace(traceparent, TRACESTATE)
    assert tracing.parse_traceparent(context.traceparent) == (context.trace_id, context.span_id, "01")
    assert context.trace_id != TRACE_ID
    assert context.parent_id is None
    assert context.tracestate == ""  # a tracestate means nothing without its traceparent


def test_a_later_version_may_carry_more_fields() -> None:
    assert tracing.parse_traceparent(f"01-{TRACE_ID}-{CLIENT_SPAN}-00-more") == (TRACE_ID, CLIENT_SPAN, "00")


def job_lines(function_processes: FunctionProcesses, url: str, name: str, job_id: str) -> list[dict]:
    """The JSON lines of a function that name ``job_id``, once there are some."""

    def lines() -> list[dict]:
        parsed = [json.loads(line) for line in log_lines(function_processes.log_dir, url, name)]
        return [line for line in parsed if line.get("job_id") == job_id]

    return wait_for(lines, what=f"{name}'s lines for job {job_id}")


def test_a_traceparent_sent_to_submit_reaches_the_event_render_and_the_status(
    loaded_redis: RedisServer, function_processes: FunctionProcesses
) -> None:
    environ = {"REDIS_URL": loaded_redis.url, "LOG_FORMAT": "json", "THREADS": "2"}
    render = function_processes.start("render", environ)
    status = function_processes.start("status", environ)
    broker = Broker([render])
    try:
        submit = function_processes.start("submit", {**environ, "K_SINK": broker.url})
        answer = requests.post(
            f"{submit}/submit",
            json={"radius_mean": 14.5, "texture_mean": 20.0},
            headers={"traceparent": TRACEPARENT, "tracestate": TRACESTATE},
            timeout=30,
        )
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["job_id"]

        # The event as the Broker received it, read back with the SDK: the distributed-tracing
        # extension names the trace, with submit's span as the parent of what comes next.
        [(headers, body)] = broker.received
        event = from_http(headers, body)
        assert event["subject"] == job_id
        parent = tracing.parse_traceparent(event["traceparent"])
        assert parent is not None
        assert parent[0] == TRACE_ID
        assert parent[1] != CLIENT_SPAN
        assert event["tracestate"] == TRACESTATE
        assert headers["traceparent"] == event["traceparent"]  # the transport's header, for the Broker

        broker.released.set()
        assert wait_until_finished(status, job_id)["status"] == "complete"
    finally:
        broker.close()
    assert requests.get(f"{status}/status/{job_id}", timeout=10).json()["trace_id"] == TRACE_ID

    [submit_line] = [
        line for line in job_lines(function_processes, submit, "submit", job_id) if "status_code" in line
    ]
    assert (submit_line["trace_id"], submit_line["span_id"]) == (TRACE_ID, parent[1])
    assert (submit_line["job_id"], submit_line["event_id"]) == (job_id, event["id"])
    render_lines = job_lines(function_processes, render, "render", job_id)
    assert {line["trace_id"] for line in render_lines} == {TRACE_ID}
    assert all(line["span_id"] != parent[1] for line in render_lines)  # render's own span, submit's child
    [request_line] = [line for line in render_lines if "duration_ms" in line]
    assert request_line["event_id"] == event["id"]
    assert request_line["outcome"] == "rendered"


def test_without_a_traceparent_submit_starts_a_trace(
    loaded_redis: RedisServer, function_processes: FunctionProcesses, event_sink
) -> None:
    environ = {"REDIS_URL": loaded_redis.url, "K_SINK": event_sink.url}
    submit = function_processes.start("submit", environ)
    answer = requests.post(f"{submit}/submit", json={"area_mean": 500.0}, timeout=30)
    assert answer.status_code == 202, answer.text
    [received] = event_sink.received
    event = from_http(received.headers, received.body)
    parsed = tracing.parse_traceparent(event["traceparent"])
    assert parsed is not None
    assert "tracestate" not in event
    status = function_processes.start("status", environ)
    assert requests.get(f"{status}/status/{event['subject']}", timeout=10).json()["trace_id"] == parsed[0]


def test_render_continues_the_trace_of_a_structured_event(
    loaded_redis: RedisServer, function_processes: FunctionProcesses
) -> None:
    environ = {"REDIS_URL": loaded_redis.url, "LOG_FORMAT": "json"}
    render = function_processes.start("render", environ)
    unknown_job = new_job_id()
    event = CloudEvent(
        {
            "type": "tumorscope.job.submitted",
            "source": "/tumorscope/submit",
            "subject": unknown_job,
            "traceparent": TRACEPARENT,
        },
        {"job_id": unknown_job, "features": {"radius_mean": 10.0}},
    )
    headers, body = to_structured(event)
    assert requests.post(render, headers=headers, data=body, timeout=30).status_code == 200
    lines = job_lines(function_processes, render, "render", unknown_job)
    assert {line["trace_id"] for line in lines} == {TRACE_ID}
    assert any(line.get("outcome") == "unknown-job" and line["status_code"] == 200 for line in lines)
