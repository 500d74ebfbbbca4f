"""The original app's curl journey, end to end across the four real function processes."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pandas as pd
import pytest
import requests
from helpers import error_of
from PIL import Image

from shared.config import BUNDLED_DATASET

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}
pytestmark = pytest.mark.integration


def wait_until_finished(status_url: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(status_url, timeout=5).json()
        if body["status"] in ("complete", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job at {status_url} did not finish in {timeout} s")


def png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image.size


def test_submit_then_status_then_result(services: dict[str, str]) -> None:
    submitted = requests.post(f"{services['submit']}/submit", json=SAMPLE, timeout=30)

    assert submitted.status_code == 202
    job = submitted.json()
    assert set(job) == {"job_id", "status", "status_url", "result_url"}
    assert job["status"] == "complete"  # K_SINK is render itself here: the answer follows the render
    assert re.fullmatch(r"[0-9a-f]{32}", job["job_id"])
    assert job["status_url"] == f"{services['status']}/status/{job['job_id']}"
    assert job["result_url"] == f"{services['status']}/result/{job['job_id']}"
    assert submitted.headers["Location"] == job["status_url"]

    status = wait_until_finished(job["status_url"])
    assert status["status"] == "complete"
    assert status["job_id"] == job["job_id"]
    assert status["submitted_at"] <= status["started_at"] <= status["finished_at"]

    picture = requests.get(job["result_url"], timeout=5)
    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    assert f"{job['job_id']}.png" in picture.headers["Content-Disposition"]
    width, height = png_size(picture.content)
    assert width > 600
    assert height > 400

    summary = requests.get(job["result_url"], params={"format": "json"}, timeout=5).json()
    by_accept = requests.get(job["result_url"], headers={"Accept": "application/json"}, timeout=5).json()
    assert summary == by_accept
    assert summary["job_id"] == job["job_id"]
    assert set(summary["features"]) == set(SAMPLE)
    assert summary["neighbours"]["k"] == 5
    assert summary["neighbours"]["benign"] + summary["neighbours"]["malignant"] == 5
    assert "not a diagnosis" in summary["note"]


def test_summary_percentiles_and_neighbours_match_an_independent_computation(
    services: dict[str, str],
) -> None:
    frame = pd.read_csv(BUNDLED_DATASET)
    job = requests.post(f"{services['submit']}/", json=SAMPLE, timeout=30).json()
    wait_until_finished(job["status_url"])
    summary = requests.get(job["result_url"], params={"format": "json"}, timeout=5).json()

    for feature, value in SAMPLE.items():
        for diagnosis, name in (("B", "benign"), ("M", "malignant")):
            values = frame.loc[frame["diagnosis"] == diagnosis, feature]
            expected = 100 * (values <= value).mean()
            assert summary["features"][feature]["percentile"][name] == pytest.approx(expected, abs=0.01)

    columns = frame[list(SAMPLE)]
    standardised = (columns - columns.mean()) / columns.std(ddof=0)
    point = (pd.Series(SAMPLE) - columns.mean()) / columns.std(ddof=0)
    nearest = np.argsort(((standardised - point) ** 2).sum(axis=1).to_numpy())[:5]
    malignant = int((frame["diagnosis"].iloc[nearest] == "M").sum())
    counts = {k: summary["neighbours"][k] for k in ("k", "benign", "malignant")}
    assert counts == {"k": 5, "benign": 5 - malignant, "malignant": malignant}
    assert [case["id"] for case in summary["neighbours"]["cases"]] == frame["id"].iloc[nearest].tolist()


def test_graphs_answer_pngs_and_the_numbers_numpy_gets(services: dict[str, str]) -> None:
    frame = pd.read_csv(BUNDLED_DATASET)
    histogram = requests.get(f"{services['graph']}/graph/histogram?feature=radius_mean&bins=15", timeout=30)
    assert histogram.status_code == 200
    assert histogram.headers["Content-Type"] == "image/png"
    png_size(histogram.content)

    numbers = requests.get(
        f"{services['graph']}/graph/histogram",
        params={"feature": "radius_mean", "bins": 15, "format": "json"},
    ).json()
    edges = np.histogram_bin_edges(frame["radius_mean"], bins=15)
    assert numbers["feature"] == "radius_mean"
    assert numbers["bins"] == 15
    assert numbers["edges"] == pytest.approx(edges.tolist())
    for diagnosis, name in (("B", "benign"), ("M", "malignant")):
        expected = np.histogram(frame.loc[frame["diagnosis"] == diagnosis, "radius_mean"], bins=edges)[0]
        assert numbers["counts"][name] == expected.tolist()

    scatter = requests.get(f"{services['graph']}/graph/scatter?x=radius_mean&y=texture_mean", timeout=30)
    assert scatter.status_code == 200
    assert scatter.headers["Content-Type"] == "image/png"
    png_size(scatter.content)
    numbers = requests.get(
        f"{services['graph']}/graph/scatter",
        params={"x": "radius_mean", "y": "texture_mean", "format": "json"},
    ).json()
    assert numbers["points"] == {"benign": 357, "malignant": 212}
    assert numbers["x_range"] == [frame["radius_mean"].min(), frame["radius_mean"].max()]
    assert numbers["y_range"] == [frame["texture_mean"].min(), frame["texture_mean"].max()]


def test_histogram_defaults_to_radius_mean_and_ten_bins(services: dict[str, str]) -> None:
    numbers = requests.get(f"{services['graph']}/graph/histogram?format=json", timeout=30).json()
    assert numbers["feature"] == "radius_mean"
    assert numbers["bins"] == 10
    assert len(numbers["edges"]) == 11


def test_kaggle_spelling_of_concave_points_is_accepted(services: dict[str, str]) -> None:
    numbers = requests.get(
        f"{services['graph']}/graph/histogram", params={"feature": "concave points_mean", "format": "json"}
    ).json()
    assert numbers["feature"] == "concave_points_mean"
    job = requests.post(f"{services['submit']}/submit", json={"concave points_worst": 0.1}, timeout=30).json()
    assert wait_until_finished(job["status_url"])["status"] == "complete"


@pytest.mark.parametrize("name", ["submit", "status", "graph"])
def test_every_http_function_indexes_its_routes_and_answers_probes(
    services: dict[str, str], name: str
) -> None:
    index = requests.get(f"{services[name]}/", timeout=5)
    assert index.status_code == 200
    assert index.json()["service"] == name
    paths = {route["path"] for route in index.json()["routes"]}
    assert {"/health/readiness", "/health/liveness"} <= paths
    for probe in ("readiness", "liveness"):
        assert requests.get(f"{services[name]}/health/{probe}", timeout=5).status_code == 200


@pytest.mark.parametrize(
    ("service", "method", "path", "status", "code"),
    [
        ("status", "GET", "/status/not-a-job-id", 400, "invalid_job_id"),
        ("status", "GET", "/status/" + "A" * 32, 400, "invalid_job_id"),
        ("status", "GET", "/status/" + "a" * 33, 400, "invalid_job_id"),
        ("status", "GET", "/result/..%2F..%2Fetc", 400, "invalid_job_id"),
        ("status", "GET", "/status/" + "0" * 32, 404, "job_not_found"),
        ("status", "GET", "/result/" + "0" * 32, 404, "job_not_found"),
        ("status", "GET", "/result/" + "0" * 32 + "?format=gif", 400, "invalid_parameter"),
        ("status", "DELETE", "/status/" + "0" * 32, 405, "method_not_allowed"),
        ("status", "GET", "/nowhere", 404, "not_found"),
        ("graph", "GET", "/graph/histogram?bins=0", 400, "invalid_parameter"),
        ("graph", "GET", "/graph/histogram?bins=201", 400, "invalid_parameter"),
        ("graph", "GET", "/graph/histogram?bins=ten", 400, "invalid_parameter"),
        ("graph", "GET", "/graph/histogram?feature=radius", 400, "unknown_feature"),
        ("graph", "GET", "/graph/histogram?feature=radius_mean&feature=area_mean", 400, "invalid_parameter"),
        ("graph", "GET", "/graph/histogram?colour=red", 400, "unknown_parameter"),
        ("graph", "GET", "/graph/scatter?x=radius_mean", 400, "missing_parameter"),
        ("graph", "GET", "/graph/scatter?y=radius_mean", 400, "missing_parameter"),
        ("graph", "POST", "/graph/histogram", 405, "method_not_allowed"),
        ("submit", "PUT", "/submit", 405, "method_not_allowed"),
    ],
)
def test_bad_requests_get_json_errors(
    services: dict[str, str], service: str, method: str, path: str, status: int, code: str
) -> None:
    response = requests.request(method, services[service] + path, timeout=10)
    assert response.status_code == status
    assert error_of(response)["code"] == code
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]
