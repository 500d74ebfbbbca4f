"""render: takes job-submitted CloudEvents in binary and structured mode, renders each job once."""

from __future__ import annotations

import json
import time

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from helpers import error_of

from shared.config import BUNDLED_DATASET
from shared.dataset.csv_file import read_dataset_csv
from shared.picture import job as picture
from shared.picture.layout import picture_data
from shared.store.jobs import JobStore
from shared.web.events import JOB_SUBMITTED, SOURCE, job_submitted

pytestmark = pytest.mark.integration


@pytest.fixture
def jobs(loaded_redis) -> JobStore:
    return JobStore(loaded_redis.client(), ttl_seconds=600)


def deliver(render_url: str, event: CloudEvent, mode=to_binary) -> requests.Response:
    headers, body = mode(event)
    return requests.post(render_url, headers=headers, data=body, timeout=30)


@pytest.mark.parametrize("mode", [to_binary, to_structured])
def test_an_event_in_either_mode_renders_the_job(services, jobs: JobStore, mode) -> None:
    job = jobs.create({"radius_mean": 17.0, "texture_mean": 21.0})

    response = deliver(services["render"], job_submitted(job.job_id, job.features, {}), mode)

    assert response.status_code == 200
    assert "ce-id" not in {k.lower() for k in response.headers}  # no reply event by accident
    finished = jobs.get(job.job_id)
    assert finished.status == "complete"
    assert jobs.result(job.job_id, "png").startswith(b"\x89PNG")
    assert b'"neighbours"' in jobs.result(job.job_id, "summary")


def test_a_sample_off_the_data_sets_scale_is_drawn_at_its_scale_and_placed_in_the_summary(
    services, jobs: JobStore
) -> None:
    """The issue's sample: two values far above their features' ranges. render's picture is the whole
    drawing at the data set's scale, byte for byte, and the summary says where each value lies."""
    sample = {"radius_mean": 14.5, "symmetry_worst": 20.0, "fractal_dimension_se": 15.0}
    off_scale = jobs.create(sample)

    assert deliver(services["render"], job_submitted(off_scale.job_id, sample, {})).status_code == 200

    dataset = read_dataset_csv(BUNDLED_DATASET)
    data = picture_data(dataset.columns, dataset.malignant.astype(bool), list(sample))
    assert jobs.result(off_scale.job_id, "png") == picture.full_png(sample, data)
    summary = json.loads(jobs.result(off_scale.job_id, "summary"))["features"]
    assert {f: s["position"] for f, s in summary.items()} == {
        "radius_mean": "within",
        "symmetry_worst": "above",
        "fractal_dimension_se": "above",
    }
    assert summary["symmetry_worst"]["range"] == list(data.ranges["symmetry_worst"])


def test_a_redelivered_event_is_acknowledged_without_rendering_again(services, jobs: JobStore) -> None:
    job = jobs.create({"area_mean": 700.0})
    event = job_submitted(job.job_id, job.features, {})
    assert deliver(services["render"], event).status_code == 200
    first_finish = jobs.get(job.job_id).finished_at

    assert deliver(services["render"], event).status_code == 200
    assert jobs.get(job.job_id).finished_at == first_finish


def test_a_job_locked_by_another_delivery_gets_409_so_the_broker_retries(services, jobs: JobStore) -> None:
    job = jobs.create({"area_mean": 700.0})
    lock = jobs.lock(job.job_id, seconds=30)
    assert lock.acquire()
    try:
        response = deliver(services["render"], job_submitted(job.job_id, job.features, {}))
        assert response.status_code == 409
        assert error_of(response)["code"] == "job_locked"
        assert jobs.get(job.job_id).status == "queued"
    finally:
        lock.release()
    assert deliver(services["render"], job_submitted(job.job_id, job.features, {})).status_code == 200
    assert jobs.get(job.job_id).status == "complete"


def test_an_event_for_an_unknown_job_is_acknowledged_not_retried(services) -> None:
    response = deliver(services["render"], job_submitted("f" * 32, {"radius_mean": 1.0}, {}))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "attributes",
    [
        {"type": "com.example.other", "source": SOURCE, "subject": "a" * 32},
        {"type": JOB_SUBMITTED, "source": SOURCE, "subject": "../../etc/passwd"},
        {"type": JOB_SUBMITTED, "source": SOURCE},
    ],
)
def test_a_malformed_event_gets_400_which_the_broker_does_not_retry(services, attributes) -> None:
    response = deliver(services["render"], CloudEvent(attributes, {"features": {}}))
    assert response.status_code == 400
    error_of(response)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [(b"hello", "text/plain", 415), (b'{"hello": "world"}', "application/json", 400)],
)
def test_a_request_that_is_not_a_cloudevent_gets_a_json_4xx(services, body, content_type, status) -> None:
    response = requests.post(
        services["render"], data=body, headers={"Content-Type": content_type}, timeout=10
    )
    assert response.status_code == status
    assert "Got HTTP headers" not in error_of(response)["message"]


def test_render_warms_its_backgrounds_up_while_idle_and_jobs_come_out_the_same(
    function_processes, loaded_redis, jobs: JobStore, tmp_path
) -> None:
    sample = {"radius_mean": 17.0, "texture_mean": 21.0, "area_se": 30.0}
    cold = jobs.create(sample)
    url = function_processes.start("render", {"REDIS_URL": loaded_redis.url, "RENDER_WARM_UP": "false"})
    assert deliver(url, job_submitted(cold.job_id, cold.features, {})).status_code == 200

    warm_url = function_processes.start("render", {"REDIS_URL": loaded_redis.url, "RENDER_WARM_UP": "true"})
    log = tmp_path / f"render-{warm_url.rsplit(':', 1)[1]}.log"
    deadline = time.monotonic() + 60
    while "panel backgrounds drawn ahead of the jobs" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    warm = jobs.create(sample)
    assert deliver(warm_url, job_submitted(warm.job_id, warm.features, {})).status_code == 200

    assert jobs.get(warm.job_id).status == "complete"
    assert jobs.result(warm.job_id, "png") == jobs.result(
        cold.job_id, "png"
    )  # the same picture, byte for byte
