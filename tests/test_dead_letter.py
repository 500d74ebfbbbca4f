"""The Trigger's deadLetterSink is render: a dead-lettered event marks its job failed with a reason.

When the Broker gives up on a delivery (retries exhausted) it sends the original event to the
dead-letter sink with Knative's error extensions: ``knativeerrorcode`` (the last HTTP status),
``knativeerrordest`` (the subscriber's URL) and ``knativeerrordata`` (its answer, base64).
"""

from __future__ import annotations

import base64

import pytest
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.renderer import dead_letter_reason, is_dead_lettered
from shared.store.jobs import JobStore
from shared.web import events

pytestmark = pytest.mark.integration

RENDER_URL_IN_CLUSTER = "http://render.tumorscope-test.svc.cluster.local"


def dead_lettered(job_id: str, code: str, answer: bytes) -> CloudEvent:
    """The job's event as the Broker sends it to the deadLetterSink after its last retry."""
    event = events.job_submitted(job_id, {"radius_mean": 14.5}, {})
    event["knativeerrorcode"] = code
    event["knativeerrordest"] = RENDER_URL_IN_CLUSTER
    event["knativeerrordata"] = base64.b64encode(answer).decode()
    return event


@pytest.fixture
def jobs(loaded_redis) -> JobStore:
    """The job store the function processes use (database 0)."""
    return JobStore(loaded_redis.client(), 3600)


def post(url: str, event: CloudEvent) -> requests.Response:
    headers, body = to_binary(event)
    return requests.post(url, headers=headers, data=body, timeout=30)


def test_a_dead_lettered_event_marks_its_queued_job_failed_with_the_reason(services, jobs):
    job = jobs.create({"radius_mean": 14.5})
    answer = b'{"error": {"code": "unavailable", "message": "Redis is unreachable"}}'

    response = post(services["render"], dead_lettered(job.job_id, "503", answer))

    assert response.status_code == 200
    assert "ce-id" not in response.headers  # not a reply event for the Broker
    status = requests.get(f"{services['status']}/status/{job.job_id}", timeout=10).json()
    assert status["status"] == "failed"
    assert "HTTP 503" in status["error"]
    assert RENDER_URL_IN_CLUSTER in status["error"]
    assert "Redis is unreachable" in status["error"]
    result = requests.get(f"{services['status']}/result/{job.job_id}", timeout=10)
    assert result.status_code == 409
    assert "HTTP 503" in result.json()["error"]["message"]


def test_a_dead_lettered_event_leaves_a_job_that_completed_after_all_complete(services):
    submitted = requests.post(f"{services['submit']}/submit", json={"radius_mean": 14.5}, timeout=30)
    job_id = submitted.json()["job_id"]
    assert requests.get(f"{services['status']}/status/{job_id}", timeout=10).json()["status"] == "complete"

    response = post(services["render"], dead_lettered(job_id, "500", b"late"))

    assert response.status_code == 200
    assert requests.get(f"{services['status']}/status/{job_id}", timeout=10).json()["status"] == "complete"


def test_a_dead_lettered_event_for_an_unknown_job_is_acknowledged(services):
    response = post(services["render"], dead_lettered("0" * 32, "500", b""))

    assert response.status_code == 200  # nothing to mark; retrying would not help


def test_the_reason_names_the_code_the_destination_and_the_answer():
    event = dead_lettered("a" * 32, "502", b"bad\n gateway")

    assert is_dead_lettered(event.get_attributes())
    assert dead_letter_reason(event.get_attributes()) == (
        f"the job's event could not be delivered to {RENDER_URL_IN_CLUSTER} "
        "(last answer: HTTP 502): bad gateway"
    )


def test_an_event_without_error_extensions_is_not_dead_lettered():
    event = events.job_submitted("a" * 32, {"radius_mean": 14.5}, {})

    assert not is_dead_lettered(event.get_attributes())


def test_undecodable_error_data_still_gives_a_reason():
    attributes = {"knativeerrorcode": "500", "knativeerrordata": "not base64!"}

    assert dead_letter_reason(attributes) == (
        "the job's event could not be delivered to the subscriber (last answer: HTTP 500)"
    )
