"""K_SINK unreachable, failing, refusing or hung: submit retries briefly, fails the job, answers 503."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests
from helpers import error_of
from reliability import job_status

from devtools.devserver import free_port

pytestmark = pytest.mark.integration

SAMPLE = {"radius_mean": 14.5}


@pytest.fixture(scope="module")
def shared_status(module_functions, loaded_redis) -> str:
    """One status for the module's tests, which only read their own jobs through it."""
    return module_functions.start("status", {"REDIS_URL": loaded_redis.url, "SINK_TIMEOUT_SECONDS": "1"})


@pytest.fixture
def start_submit(function_processes, loaded_redis, shared_status):
    """Start a submit with the given K_SINK (and a status to read its jobs); returns both URLs."""

    def start(k_sink: str, **environ: str) -> tuple[str, str]:
        base = {"REDIS_URL": loaded_redis.url, "SINK_TIMEOUT_SECONDS": "1", **environ}
        return function_processes.start("submit", {**base, "K_SINK": k_sink}), shared_status

    return start


@pytest.fixture
def silent_sink() -> Iterator[str]:
    """A sink that accepts connections and never answers (a hung Broker)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def job_states(loaded_redis) -> dict[bytes, bytes]:
    """Every job in Redis and its stored status."""
    client = loaded_redis.client()
    keys = [k for k in client.keys("tumorscope:job:*") if k.count(b":") == 2]
    return {key: client.hget(key, "status") for key in keys}


@pytest.fixture
def new_jobs(loaded_redis):
    """The stored status of each job made since the test began."""
    before = set(job_states(loaded_redis))
    return lambda: {k: v for k, v in job_states(loaded_redis).items() if k not in before}


def assert_failed_with_503(response: requests.Response, status_url: str) -> dict:
    """The answer is a 503 naming the job, and the job reads failed because of the sink."""
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    error = error_of(response)
    assert error["code"] == "unavailable"
    assert "event sink" in error["message"]
    job = job_status(status_url, error["job_id"])
    assert job["status"] == "failed"
    assert job["reason"] == "sink_unavailable"
    return job


def test_an_unreachable_sink_fails_the_job_with_503(start_submit, new_jobs) -> None:
    submit, status = start_submit(f"http://127.0.0.1:{free_port()}")  # nothing listens there

    response = requests.post(f"{submit}/submit", json=SAMPLE, timeout=30)

    job = assert_failed_with_503(response, status)
    assert "ConnectionError" in job["error"]
    assert list(new_jobs().values()) == [b"failed"]  # none left queued with no event sent


@pytest.mark.parametrize("answer", [500, 502, 503, 429])
def test_a_failing_sink_is_retried_briefly_then_the_job_fails(
    start_submit, event_sink, new_jobs, answer: int
) -> None:
    event_sink.status = answer
    submit, status = start_submit(event_sink.url)

    response = requests.post(f"{submit}/submit", json=SAMPLE, timeout=30)

    job = assert_failed_with_503(response, status)
    assert f"HTTP {answer}" in job["error"]
    assert len(event_sink.received) == 3  # three attempts, the same event each time
    assert len({r.headers["ce-id"] for r in event_sink.received}) == 1
    assert list(new_jobs().values()) == [b"failed"]  # none left queued with no event sent


def test_a_sink_that_refuses_the_event_is_not_retried(start_submit, event_sink, new_jobs) -> None:
    event_sink.status = 400
    submit, status = start_submit(event_sink.url)

    assert_failed_with_503(requests.post(f"{submit}/submit", json=SAMPLE, timeout=30), status)
    assert len(event_sink.received) == 1
    assert list(new_jobs().values()) == [b"failed"]  # none left queued with no event sent


def test_a_hung_sink_times_out_and_the_job_fails(start_submit, silent_sink, new_jobs) -> None:
    submit, status = start_submit(silent_sink)  # SINK_TIMEOUT_SECONDS=1, three attempts

    job = assert_failed_with_503(requests.post(f"{submit}/submit", json=SAMPLE, timeout=30), status)

    assert "Timeout" in job["error"]
    assert list(new_jobs().values()) == [b"failed"]  # none left queued with no event sent


def test_no_sink_configured_fails_the_job_with_503(start_submit, new_jobs) -> None:
    submit, status = start_submit("")

    job = assert_failed_with_503(requests.post(f"{submit}/submit", json=SAMPLE, timeout=30), status)

    assert "K_SINK is not set" in job["error"]
    assert list(new_jobs().values()) == [b"failed"]  # none left queued with no event sent


def test_a_sink_that_recovers_takes_the_next_job(start_submit, event_sink) -> None:
    event_sink.status = 503
    submit, status = start_submit(event_sink.url)
    assert requests.post(f"{submit}/submit", json=SAMPLE, timeout=30).status_code == 503

    event_sink.status = 202
    accepted = requests.post(f"{submit}/submit", json=SAMPLE, timeout=30)

    assert accepted.status_code == 202
    assert job_status(status, accepted.json()["job_id"])["status"] == "queued"
