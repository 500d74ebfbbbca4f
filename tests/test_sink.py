"""submit's session to K_SINK retries through urllib3's Retry: 3 attempts, 0.1 s then 0.2 s apart."""

from __future__ import annotations

import time

import pytest
from urllib3.exceptions import MaxRetryError
from urllib3.response import HTTPResponse

from shared.web import events, sink


def test_the_session_waits_a_tenth_then_a_fifth_of_a_second_and_gives_up_after_three_attempts() -> None:
    retry = sink.sink_session().get_adapter("http://sink.example").max_retries
    waits = []
    for _ in range(sink.ATTEMPTS - 1):
        retry = retry.increment("POST", "/", response=HTTPResponse(status=503))
        waits.append(retry.get_backoff_time())
    assert waits == [0.1, 0.2]
    with pytest.raises(MaxRetryError):
        retry.increment("POST", "/", response=HTTPResponse(status=503))


def test_what_a_retry_can_help_is_retried_and_nothing_else() -> None:
    retry = sink.sink_session().get_adapter("http://sink.example").max_retries
    assert all(retry.is_retry("POST", status) for status in (429, 500, 502, 503, 504))
    assert not any(retry.is_retry("POST", status) for status in (400, 404, 409, 413))


def send_to(url: str) -> None:
    """Send one job's event to ``url`` over a new sink session."""
    sink.send(events.job_submitted("a" * 32, {"radius_mean": 14.5}, {}), url, 5, sink.sink_session())


def test_a_failing_sink_gets_the_same_event_three_times_then_send_fails(event_sink) -> None:
    event_sink.status = 503
    started = time.monotonic()
    with pytest.raises(sink.SinkError, match="HTTP 503"):
        send_to(event_sink.url)
    assert time.monotonic() - started >= 0.3  # 0.1 s, then 0.2 s
    assert len(event_sink.received) == 3
    assert len({r.headers["ce-id"] for r in event_sink.received}) == 1


def test_a_refused_event_is_sent_once(event_sink) -> None:
    event_sink.status = 400
    with pytest.raises(sink.SinkError, match="HTTP 400"):
        send_to(event_sink.url)
    assert len(event_sink.received) == 1


def test_an_accepted_event_is_sent_once_in_binary_mode(event_sink) -> None:
    send_to(event_sink.url)
    [received] = event_sink.received
    assert received.headers["ce-type"] == events.JOB_SUBMITTED
    assert received.headers["ce-subject"] == "a" * 32


def test_no_sink_is_an_error_before_anything_is_sent() -> None:
    with pytest.raises(sink.SinkError, match="K_SINK is not set"):
        send_to("")
