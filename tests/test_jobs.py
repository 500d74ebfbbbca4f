"""JobStore: a job's life in Redis, from queued to complete or failed."""

from __future__ import annotations

import re

import pytest

from shared.errors import ApiError
from shared.store.jobs import JobStore, check_job_id, new_job_id


@pytest.fixture
def jobs(redis_db) -> JobStore:
    return JobStore(redis_db, ttl_seconds=120)


def test_job_ids_are_128_random_bits_in_hex() -> None:
    ids = {new_job_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize("bad", ["", "a" * 31, "A" * 32, "g" * 32, "a" * 31 + "/", "../" + "a" * 29])
def test_anything_but_32_lowercase_hex_is_not_a_job_id(bad: str) -> None:
    with pytest.raises(ApiError) as raised:
        check_job_id(bad)
    assert raised.value.status == 400


def test_a_job_goes_from_queued_to_complete_with_its_results(jobs: JobStore, redis_db) -> None:
    job = jobs.create({"radius_mean": 14.5})
    assert jobs.get(job.job_id).status == "queued"
    assert 0 < redis_db.ttl(jobs.key(job.job_id)) <= 120

    jobs.mark_in_progress(job.job_id)
    assert jobs.get(job.job_id).status == "in-progress"
    jobs.mark_complete(job.job_id, b"\x89PNG...", {"job_id": job.job_id})

    done = jobs.get(job.job_id)
    assert done.status == "complete"
    assert done.features == {"radius_mean": 14.5}
    assert done.submitted_at <= done.started_at <= done.finished_at
    assert jobs.result(job.job_id, "png") == b"\x89PNG..."
    assert jobs.result(job.job_id, "summary") == b'{"job_id": "%s"}' % job.job_id.encode()
    assert 0 < redis_db.ttl(jobs.key(job.job_id, "png")) <= 120
    assert done.status_json()["finished_at"].endswith("Z")


def test_a_failed_job_keeps_its_reason(jobs: JobStore) -> None:
    job = jobs.create({"radius_mean": 14.5})
    jobs.mark_failed(job.job_id, "the event sink did not accept the job's event")
    failed = jobs.get(job.job_id)
    assert failed.status == "failed"
    assert failed.status_json()["error"] == "the event sink did not accept the job's event"


def test_changing_an_expired_job_does_not_bring_it_back(jobs: JobStore, redis_db) -> None:
    job = jobs.create({"radius_mean": 14.5})
    redis_db.delete(jobs.key(job.job_id))
    jobs.mark_complete(job.job_id, b"png", {})
    assert jobs.get(job.job_id) is None
    assert jobs.result(job.job_id, "png") is None


def test_only_one_holder_of_a_job_lock_at_a_time(jobs: JobStore) -> None:
    job = jobs.create({"radius_mean": 14.5})
    first, second = jobs.lock(job.job_id, 5), jobs.lock(job.job_id, 5)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
