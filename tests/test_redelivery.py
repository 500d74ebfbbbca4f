"""Delivery is at least once: the same event again, at once or later, or after render died, is harmless."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from conftest import FunctionProcesses
from reliability import (
    PrivateRedis,
    deliver,
    deliver_until_acknowledged,
    kill_container,
    log_lines,
    wait_for,
)

from devtools.devserver import stop
from shared.dataset.columns import store
from shared.dataset.csv_file import Dataset
from shared.dataset.features import FEATURES
from shared.store.jobs import JobStore
from shared.web.events import job_submitted

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def render(module_functions, loaded_redis) -> str:
    """One render for the tests that only deliver events to it: each follows its own job by id."""
    return module_functions.start("render", {"REDIS_URL": loaded_redis.url, "THREADS": "8"})


@pytest.fixture
def function_processes(module_functions) -> Iterator[FunctionProcesses]:
    """This test's own functions, logging beside the module's render, so that outcomes() reads either."""
    functions = FunctionProcesses(module_functions.log_dir)
    yield functions
    stop(functions.processes)


@pytest.fixture
def jobs(loaded_redis) -> JobStore:
    return JobStore(loaded_redis.client(), ttl_seconds=600)


def outcomes(function_processes, render: str, job_id: str) -> list[str]:
    """What render logged for each delivery of this job's events: rendered, already-done, locked..."""
    lines = log_lines(function_processes.log_dir, render, "render")
    return [line.rsplit(" ", 1)[1] for line in lines if f" job {job_id}: event " in line]


def test_one_event_delivered_eight_times_at_once_renders_once(function_processes, render, jobs) -> None:
    job = jobs.create({"radius_mean": 17.0, "texture_mean": 21.0, "area_mean": 900.0})
    event = job_submitted(job.job_id, job.features, {})

    with ThreadPoolExecutor(8) as pool:
        first = list(pool.map(lambda _: deliver(render, event).status_code, range(8)))
    assert set(first) <= {200, 409}  # 409: another delivery holds the job, the Broker retries later
    for status in first:
        if status == 409:
            assert deliver_until_acknowledged(render, event)[-1] == 200

    done = jobs.get(job.job_id)
    assert done.status == "complete"
    assert outcomes(function_processes, render, job.job_id).count("rendered") == 1
    assert jobs.result(job.job_id, "png").startswith(b"\x89PNG")
    keys = sorted(k.decode() for k in jobs.redis.keys(jobs.key(job.job_id) + "*"))
    assert keys == [jobs.key(job.job_id), jobs.key(job.job_id, "png"), jobs.key(job.job_id, "summary")]


def test_later_redeliveries_and_new_events_for_a_finished_job_change_nothing(
    function_processes, render, jobs
) -> None:
    job = jobs.create({"smoothness_mean": 0.1})
    event = job_submitted(job.job_id, job.features, {})
    assert deliver(render, event).status_code == 200
    done, png = jobs.get(job.job_id), jobs.result(job.job_id, "png")

    for again in (event, event, job_submitted(job.job_id, job.features, {})):  # the last: a new event id
        assert deliver(render, again).status_code == 200

    assert jobs.get(job.job_id) == done  # same started_at and finished_at: not drawn again
    assert jobs.result(job.job_id, "png") == png
    assert outcomes(function_processes, render, job.job_id) == ["rendered", *["already-done"] * 3]


def test_an_event_for_a_job_that_expired_is_acknowledged_and_logged(
    function_processes, render, loaded_redis
) -> None:
    short_lived = JobStore(loaded_redis.client(), ttl_seconds=1)
    job = short_lived.create({"radius_mean": 12.0})
    gone = lambda: not short_lived.redis.exists(short_lived.key(job.job_id))  # noqa: E731
    wait_for(gone, 10, "the job's TTL running out")

    response = deliver(render, job_submitted(job.job_id, job.features, {}))

    assert response.status_code == 200  # acknowledged: a retry could never find the job
    assert outcomes(function_processes, render, job.job_id) == ["unknown-job"]
    [line] = [line for line in log_lines(function_processes.log_dir, render, "render") if job.job_id in line]
    assert line.startswith("WARNING")
    assert not short_lived.redis.keys(short_lived.key(job.job_id) + "*")  # nothing brought back


def test_an_event_for_a_job_that_never_existed_is_acknowledged_once_not_retried(
    function_processes, render
) -> None:
    job_id = "e" * 32
    assert deliver(render, job_submitted(job_id, {"radius_mean": 1.0}, {})).status_code == 200
    assert outcomes(function_processes, render, job_id) == ["unknown-job"]


def synthetic_dataset(rows: int) -> Dataset:
    """A data set big enough that drawing a 30-feature job takes seconds (so render can die mid-job)."""
    rng = np.random.default_rng(5)
    columns = {feature: rng.gamma(2.0, 10.0, rows) for feature in FEATURES}
    malignant = (rng.random(rows) < 0.4).astype(np.uint8)
    return Dataset(f"synthetic-{rows}", malignant, columns, np.arange(1, rows + 1, dtype=np.int64))


def test_a_job_whose_render_was_killed_mid_job_completes_on_redelivery(
    function_processes, tmp_path: Path
) -> None:
    redis_server = PrivateRedis(tmp_path / "redis")
    try:
        store(redis_server.client(), synthetic_dataset(250_000), source="synthetic")
        jobs = JobStore(redis_server.client(), ttl_seconds=600)
        job = jobs.create(dict.fromkeys(FEATURES, 20.0))
        event = job_submitted(job.job_id, job.features, {})
        environ = {"REDIS_URL": redis_server.url, "RENDER_LOCK_SECONDS": "5", "THREADS": "2"}
        first_render = function_processes.start("render", environ)
        first_process = function_processes.processes[-1]

        with ThreadPoolExecutor(1) as pool:
            delivery = pool.submit(deliver, first_render, event)
            wait_for(lambda: jobs.get(job.job_id).status == "in-progress", 60, "render starting the job")
            kill_container(first_process)  # SIGKILL while it draws: no cleanup, its lock stays behind
            with pytest.raises(requests.ConnectionError):
                delivery.result()  # the Broker sees a failed delivery and will retry it

        assert jobs.get(job.job_id).status == "in-progress"
        assert jobs.redis.exists(jobs.key(job.job_id, "lock"))
        second_render = function_processes.start("render", environ)
        if jobs.redis.pttl(jobs.key(job.job_id, "lock")) > 1000:
            assert deliver(second_render, event).status_code == 409  # the dead delivery's lock holds

        statuses = deliver_until_acknowledged(second_render, event, timeout=120)

        assert statuses[-1] == 200
        done = jobs.get(job.job_id)
        assert done.status == "complete"
        assert done.started_at > job.submitted_at
        assert jobs.result(job.job_id, "png").startswith(b"\x89PNG")
        assert set(json.loads(jobs.result(job.job_id, "summary"))["features"]) == set(FEATURES)
        assert outcomes(function_processes, second_render, job.job_id).count("rendered") == 1
    finally:
        redis_server.stop()
