"""Idempotency-Key on submit: a retried request gets the job it already made, never a second one."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from helpers import error_of

from shared.store.jobs import JobStore

pytestmark = pytest.mark.integration

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0}


@pytest.fixture(scope="module")
def submit(module_functions, loaded_redis, module_sink) -> str:
    """A submit whose events go to the stand-in Broker (which accepts them and draws nothing).

    One for the module: each test uses keys of its own, and ``event_sink`` is this sink, emptied.
    """
    return module_functions.start(
        "submit", {"REDIS_URL": loaded_redis.url, "K_SINK": module_sink.url, "JOB_TTL_SECONDS": "900"}
    )


def job_keys(loaded_redis) -> set[bytes]:
    return set(loaded_redis.client().keys("tumorscope:job:*"))


def post(submit: str, body: dict, key: str | None) -> requests.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return requests.post(f"{submit}/submit", json=body, headers=headers, timeout=30)


def test_the_same_key_and_sample_give_the_same_job(submit, event_sink, loaded_redis) -> None:
    before = job_keys(loaded_redis)

    first = post(submit, SAMPLE, "order-7f3a")
    again = post(submit, SAMPLE, "order-7f3a")

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["status_url"] == first.json()["status_url"] == again.headers["Location"]
    assert len(job_keys(loaded_redis) - before) == 1
    assert len(event_sink.received) == 1  # one job, one event


def test_the_same_sample_reordered_or_in_kaggle_spelling_is_the_same_request(submit) -> None:
    first = post(submit, {"radius_mean": 14.5, "concave_points_mean": 0.05}, "spelling-1")
    again = post(submit, {"concave points_mean": 0.05, "radius_mean": 14.5}, "spelling-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["job_id"] == first.json()["job_id"]


def test_the_same_key_with_another_sample_is_409_and_makes_no_job(submit, loaded_redis) -> None:
    first = post(submit, SAMPLE, "order-9b21")
    before = job_keys(loaded_redis)

    other = post(submit, {**SAMPLE, "radius_mean": 30.0}, "order-9b21")

    assert first.status_code == 202
    assert other.status_code == 409
    assert error_of(other)["code"] == "idempotency_key_reused"
    assert job_keys(loaded_redis) == before


def test_without_a_key_every_request_is_a_new_job(submit) -> None:
    ids = {post(submit, SAMPLE, None).json()["job_id"] for _ in range(3)}
    assert len(ids) == 3


def test_concurrent_requests_with_one_key_make_one_job(submit, event_sink, loaded_redis) -> None:
    before = job_keys(loaded_redis)

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(submit, SAMPLE, "burst-51c0"), range(8)))

    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert len(job_keys(loaded_redis) - before) == 1
    assert len(event_sink.received) == 1


def test_the_key_lives_as_long_as_the_job(submit, loaded_redis) -> None:
    job_id = post(submit, SAMPLE, "ttl-check").json()["job_id"]
    client = loaded_redis.client()
    [stored] = client.keys(JobStore.idempotency_key("ttl-check"))
    assert json.loads(client.get(stored))["job_id"] == job_id
    assert 0 < client.ttl(stored) <= 900
    assert b"ttl-check" not in stored  # the client's key is hashed, not used as a Redis key


def test_after_a_503_the_same_key_may_try_again(submit, event_sink) -> None:
    event_sink.status = 503
    refused = post(submit, SAMPLE, "retry-after-503")
    assert refused.status_code == 503
    failed_job = error_of(refused)["job_id"]

    event_sink.status = 202
    retried = post(submit, SAMPLE, "retry-after-503")

    assert retried.status_code == 202
    assert retried.json()["job_id"] != failed_job


@pytest.mark.parametrize(
    "key",
    ["", "k" * 256, "tab\tinside", "caf\u00e9"],
    ids=["empty", "256-chars", "tab", "non-ascii"],
)
def test_a_malformed_key_is_400_and_makes_no_job(submit, loaded_redis, key: str) -> None:
    before = job_keys(loaded_redis)
    headers = {"Idempotency-Key": key.encode("latin-1"), "Content-Type": "application/json"}
    response = requests.post(f"{submit}/submit", data=json.dumps(SAMPLE), headers=headers, timeout=10)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_idempotency_key"
    assert job_keys(loaded_redis) == before
