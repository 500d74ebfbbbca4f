"""JobStore: a job's life in Redis, from queued to complete or failed."""

from __future__ import annotations

import re

import pytest

from shared.errors import ApiError
from shared.store.jobs import JOB_RESERVE_BYTES, STORE_FILL_LIMIT, JobStore, check_job_id, new_job_id


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


def test_a_clients_share_is_counted_atomically_however_many_submit_at_once(jobs: JobStore, redis_db) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from shared.store.jobs import Owner, client_jobs_key

    owner = Owner("127.0.0.2", max_jobs=5)

    def create(_: int) -> str:
        try:
            return jobs.create({"radius_mean": 14.5}, owner=owner).job_id
        except ApiError as error:
            return error.code

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(16)))

    assert outcomes.count("quota_exceeded") == 11
    assert redis_db.zcard(client_jobs_key("127.0.0.2")) == 5
    assert jobs.create({"radius_mean": 14.5}, owner=Owner("127.0.0.3", max_jobs=5)).status == "queued"


def test_a_client_over_its_share_is_told_when_its_oldest_job_leaves_the_store(jobs: JobStore) -> None:
    from shared.store.jobs import Owner

    owner = Owner("127.0.0.2", max_jobs=1)
    job, created = jobs.create_once({"radius_mean": 1.0}, "first", owner=owner)
    assert created
    assert jobs.create_once({"radius_mean": 1.0}, "first", owner=owner) == (job, False)  # a replay is free

    with pytest.raises(ApiError) as refused:
        jobs.create({"radius_mean": 2.0}, owner=owner)

    assert (refused.value.status, refused.value.code) == (429, "quota_exceeded")
    leaves_in = jobs.ttl + jobs.deadline
    assert leaves_in - 5 <= int(refused.value.headers["Retry-After"]) <= leaves_in


def test_a_share_counts_against_a_client_unless_it_is_the_whole_store(redis_db) -> None:
    before = redis_db.config_get("maxmemory")["maxmemory"]  # the worker's one server: put back as found
    redis_db.config_set("maxmemory", 64 * 1024 * 1024)
    try:
        quarter = JobStore(redis_db, ttl_seconds=120, client_share=0.25).ensure_room("127.0.0.2")
        whole = JobStore(redis_db, ttl_seconds=120, client_share=1).ensure_room("127.0.0.2")
    finally:
        redis_db.config_set("maxmemory", before)

    room = 64 * 1024 * 1024 * STORE_FILL_LIMIT
    assert (quarter.owner.client, quarter.owner.max_jobs) == (
        "127.0.0.2",
        int(room * 0.25 / JOB_RESERVE_BYTES),
    )
    assert whole.owner is None  # only the store's room holds it: at_capacity, never quota_exceeded
