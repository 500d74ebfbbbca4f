"""Every accepted job ends: one left queued or in progress past its deadline reads failed/expired."""

from __future__ import annotations

import time

import pytest
import requests
from helpers import error_of
from reliability import deliver, job_status, log_lines, wait_for

from shared.store.jobs import JobStore
from shared.web.events import job_submitted

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deadline_services(module_functions, loaded_redis, module_sink) -> dict[str, str]:
    """submit with a 1 s deadline whose Broker never delivers; status and render as usual.

    One set for the module: its tests follow their own jobs, and ``event_sink`` is this sink.
    """
    environ = {"REDIS_URL": loaded_redis.url, "JOB_DEADLINE_SECONDS": "1"}
    urls = {"status": module_functions.start("status", environ)}
    urls["render"] = module_functions.start("render", environ)
    urls["submit"] = module_functions.start("submit", {**environ, "K_SINK": module_sink.url})
    return urls


def submit(urls: dict[str, str], sample: dict[str, float]) -> str:
    response = requests.post(f"{urls['submit']}/submit", json=sample, timeout=10)
    assert response.status_code == 202
    return response.json()["job_id"]


def test_a_job_never_delivered_reads_failed_expired_after_its_deadline(deadline_services) -> None:
    urls = deadline_services
    job_id = submit(urls, {"radius_mean": 14.5})

    expired = wait_for(
        lambda: (body := job_status(urls["status"], job_id))["status"] != "queued" and body,
        10,
        "the deadline passing",
    )

    assert expired["status"] == "failed"
    assert expired["reason"] == "expired"
    assert "deadline of 1 s" in expired["error"]
    assert expired["finished_at"] >= expired["submitted_at"]
    result = requests.get(f"{urls['status']}/result/{job_id}", timeout=10)
    assert result.status_code == 409
    assert error_of(result)["reason"] == "expired"


def test_a_late_event_for_an_expired_job_is_acknowledged_and_draws_nothing(
    deadline_services, event_sink, loaded_redis
) -> None:
    urls = deadline_services
    job_id = submit(urls, {"area_mean": 800})
    wait_for(lambda: job_status(urls["status"], job_id)["status"] == "failed", 10, "the deadline passing")

    [delivery] = [r for r in event_sink.received if job_id.encode() in r.body]
    late = requests.post(urls["render"], headers=delivery.headers, data=delivery.body, timeout=30)

    assert late.status_code == 200  # acknowledged: retrying can never help
    assert job_status(urls["status"], job_id)["reason"] == "expired"
    assert not loaded_redis.client().exists(JobStore.key(job_id, "png"))
    stored = loaded_redis.client().hgetall(JobStore.key(job_id))
    assert stored[b"status"] == b"failed"  # render recorded what status had been reporting
    assert stored[b"reason"] == b"expired"


def test_a_job_that_overran_while_drawing_stays_expired(redis_db) -> None:
    jobs = JobStore(redis_db, ttl_seconds=60, deadline_seconds=1)
    job = jobs.create({"radius_mean": 14.5})
    assert jobs.mark_in_progress(job.job_id)
    wait_for(lambda: jobs.get(job.job_id).status == "failed", 10, "the deadline passing")

    assert not jobs.mark_complete(job.job_id, b"\x89PNG late", {"job_id": job.job_id})

    assert jobs.get(job.job_id).reason == "expired"
    assert jobs.result(job.job_id, "png") is None


def test_a_job_finished_in_time_is_not_expired_later(redis_db) -> None:
    jobs = JobStore(redis_db, ttl_seconds=60, deadline_seconds=1)
    job = jobs.create({"radius_mean": 14.5})
    jobs.mark_in_progress(job.job_id)
    assert jobs.mark_complete(job.job_id, b"\x89PNG", {"job_id": job.job_id})
    deadline = jobs.get(job.job_id).deadline_at
    wait_for(lambda: time.time() > deadline + 0.5, 10, "the deadline passing")

    assert jobs.get(job.job_id).status == "complete"
    assert not jobs.mark_failed(job.job_id, "a dead letter after all")  # finished is final
    assert jobs.get(job.job_id).status == "complete"


def test_a_finished_job_is_never_overwritten_by_a_late_delivery(redis_db) -> None:
    jobs = JobStore(redis_db, ttl_seconds=60)
    job = jobs.create({"radius_mean": 14.5})
    assert jobs.mark_failed(job.job_id, "could not render", "render_failed")

    assert not jobs.mark_in_progress(job.job_id)
    assert not jobs.mark_complete(job.job_id, b"\x89PNG", {})

    failed = jobs.get(job.job_id)
    assert (failed.status, failed.reason) == ("failed", "render_failed")
    assert jobs.result(job.job_id, "png") is None


def test_render_acknowledges_an_overdue_job_with_a_warning(function_processes, loaded_redis) -> None:
    jobs = JobStore(loaded_redis.client(), ttl_seconds=60, deadline_seconds=1)
    job = jobs.create({"radius_mean": 14.5})
    wait_for(lambda: jobs.get(job.job_id).status == "failed", 10, "the deadline passing")
    render = function_processes.start("render", {"REDIS_URL": loaded_redis.url})

    assert deliver(render, job_submitted(job.job_id, job.features, {})).status_code == 200

    [line] = [line for line in log_lines(function_processes.log_dir, render, "render") if job.job_id in line]
    assert line.startswith(f"WARNING render job {job.job_id}: event")
    assert line.endswith(" expired")
