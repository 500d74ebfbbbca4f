"""submit: validates a sample, stores the job, and emits a well-formed CloudEvent to K_SINK."""

from __future__ import annotations

import json

import pytest
import requests
from cloudevents.http import from_http
from helpers import error_of

from shared.store.jobs import JobStore
from shared.web.events import JOB_SUBMITTED, SOURCE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def submit_to_sink(module_functions, loaded_redis, module_sink) -> str:
    """A submit whose K_SINK is the stand-in Broker, with the overrides a SinkBinding injects.

    One for the module: ``event_sink`` is this sink, emptied and answering 202 for each test.
    """
    return module_functions.start(
        "submit",
        {
            "REDIS_URL": loaded_redis.url,
            "K_SINK": module_sink.url,
            "K_CE_OVERRIDES": json.dumps({"extensions": {"tenant": "demo"}}),
            "STATUS_BASE_URL": "https://status.example.com",
        },
    )


def test_submit_emits_a_binary_mode_job_submitted_event(submit_to_sink, event_sink, loaded_redis) -> None:
    response = requests.post(
        f"{submit_to_sink}/submit", json={"radius_mean": 14.5, "area_mean": 600}, timeout=10
    )

    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"  # a Broker accepted the event; nothing has rendered it yet
    assert job["status_url"] == f"https://status.example.com/status/{job['job_id']}"
    assert response.headers["Location"] == job["status_url"]
    [delivery] = event_sink.received
    assert delivery.headers["ce-specversion"] == "1.0"  # binary mode: attributes in headers
    event = from_http(delivery.headers, delivery.body)
    assert event["type"] == JOB_SUBMITTED
    assert event["source"] == SOURCE
    assert event["subject"] == job["job_id"]
    assert event["tenant"] == "demo"
    assert event["datacontenttype"] == "application/json"
    assert event.data == {"job_id": job["job_id"], "features": {"radius_mean": 14.5, "area_mean": 600.0}}
    stored = loaded_redis.client().hgetall(JobStore.key(job["job_id"]))
    assert stored[b"status"] == b"queued"
    assert 0 < loaded_redis.client().ttl(JobStore.key(job["job_id"])) <= 86400


def test_a_sink_that_refuses_fails_the_job_and_answers_503(submit_to_sink, event_sink, loaded_redis) -> None:
    event_sink.status = 500
    before = set(loaded_redis.client().keys("tumorscope:job:*"))

    response = requests.post(f"{submit_to_sink}/submit", json={"radius_mean": 14.5}, timeout=30)

    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert error_of(response)["code"] == "unavailable"
    assert len(event_sink.received) == 3  # retried briefly before giving up
    [new_job] = set(loaded_redis.client().keys("tumorscope:job:*")) - before
    stored = loaded_redis.client().hgetall(new_job)
    assert stored[b"status"] == b"failed"
    assert b"event sink" in stored[b"error"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"radius_mean": 14.5', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"radius_mean": 14.5}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type"),
        (b'{"radius_mean": 14.5}', {}, 415, "unsupported_media_type"),
        (b"[14.5]", {"Content-Type": "application/json"}, 400, "invalid_sample"),
        (b"{}", {"Content-Type": "application/json"}, 400, "invalid_sample"),
        (b'{"radius_mean": "big"}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"radius_mean": true}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"radius_mean": null}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"radius_mean": -1}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"radius_mean": NaN}', {"Content-Type": "application/json"}, 400, "invalid_json"),
        (b'{"radius_mean": 1e999}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"radius_mean": 1, "radius_mean": 2}', {"Content-Type": "application/json"}, 400, "duplicate_key"),
        (
            b'{"radius_mean": 1, "radius_man": 2}',
            {"Content-Type": "application/json"},
            400,
            "unknown_feature",
        ),
        (b'{"radius_mean": {"value": 1}}', {"Content-Type": "application/json"}, 400, "invalid_value"),
        (b'{"x": "' + b"a" * 70000 + b'"}', {"Content-Type": "application/json"}, 413, "body_too_large"),
    ],
)
def test_bad_samples_get_4xx_json_errors_and_store_nothing(
    services, loaded_redis, body: bytes, headers: dict, status: int, code: str
) -> None:
    before = set(loaded_redis.client().keys("tumorscope:job:*"))

    response = requests.post(f"{services['submit']}/submit", data=body, headers=headers, timeout=10)

    assert response.status_code == status
    assert error_of(response)["code"] == code
    assert set(loaded_redis.client().keys("tumorscope:job:*")) == before


def test_a_chunked_body_over_the_limit_gets_413(services) -> None:
    chunks = (b'{"radius_mean": 1, "pad": "' + b"a" * 10000 for _ in range(10))
    response = requests.post(
        f"{services['submit']}/submit", data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "body_too_large"


def test_unknown_features_are_listed_with_a_suggestion_and_the_valid_names(services) -> None:
    response = requests.post(f"{services['submit']}/submit", json={"radius_man": 1, "colour": 2}, timeout=10)

    error = error_of(response)
    assert error["unknown"] == ["radius_man", "colour"]
    assert error["suggestions"] == {"radius_man": "radius_mean"}
    assert len(error["valid_features"]) == 30


def test_post_to_the_root_is_the_submit_route_and_get_submit_is_an_index(services) -> None:
    assert requests.post(f"{services['submit']}/", json={"radius_mean": 9}, timeout=30).status_code == 202
    index = requests.get(f"{services['submit']}/submit", timeout=5).json()
    routes = [(route["method"], route["path"]) for route in index["routes"]]
    assert ("POST", "/submit") in routes
    assert ("POST", "/") in routes
