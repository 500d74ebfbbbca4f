"""submit and status answer CORS for CORS_ALLOWED_ORIGINS only: preflights, answers and errors alike.

A browser on the explorer page (graph's origin) posts a sample to submit and reads the job from
status. Real processes, real HTTP: the requests carry the headers a browser would send.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from conftest import FunctionProcesses
from helpers import error_of

from devtools.devserver import free_port, stop

pytestmark = pytest.mark.integration

GRAPH = "https://graph.tumorscope.example"
STRANGER = "https://elsewhere.example"
JOB_ID = "0" * 32


def preflight(
    url: str, origin: str, method: str = "POST", headers: str = "content-type"
) -> requests.Response:
    """What a browser sends before a cross-origin POST of JSON."""
    return requests.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@pytest.fixture(scope="module")
def allowing(loaded_redis, tmp_path_factory) -> Iterator[dict[str, str]]:
    """submit, status and render with graph's origin (and one more) allowed: name -> URL."""
    functions = FunctionProcesses(tmp_path_factory.mktemp("cors-logs"))
    environ = {"REDIS_URL": loaded_redis.url, "CORS_ALLOWED_ORIGINS": f"{GRAPH},http://localhost:8084"}
    urls = {"render": functions.start("render", environ)}
    urls["status"] = functions.start("status", environ)
    urls["submit"] = functions.start(
        "submit", {**environ, "K_SINK": urls["render"], "STATUS_BASE_URL": urls["status"]}
    )
    yield urls
    stop(functions.processes)


def test_a_preflight_from_an_allowed_origin_allows_posting_json(allowing):
    response = preflight(f"{allowing['submit']}/submit", GRAPH, headers="content-type,idempotency-key")

    assert response.status_code == 204
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST"
    assert cors_headers(response) == {
        "access-control-allow-origin": GRAPH,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "content-type, idempotency-key",
        "access-control-expose-headers": (
            "Idempotent-Replayed, Location, RateLimit, RateLimit-Policy, Retry-After"
        ),
        "access-control-max-age": "600",
    }
    assert response.headers["Vary"] == "Origin"


def test_a_preflight_from_another_origin_gets_no_cors_headers(allowing):
    for url in (f"{allowing['submit']}/submit", f"{allowing['status']}/status/{JOB_ID}"):
        response = preflight(url, STRANGER, method="GET")

        assert response.status_code == 204  # what the path takes; the browser refuses the page's call
        assert cors_headers(response) == {}


def test_the_sample_and_its_job_are_readable_from_the_allowed_origin(allowing):
    submitted = requests.post(
        f"{allowing['submit']}/submit", json={"radius_mean": 14.5}, headers={"Origin": GRAPH}, timeout=30
    )
    assert submitted.status_code == 202
    assert submitted.headers["Access-Control-Allow-Origin"] == GRAPH
    assert "Location" in submitted.headers["Access-Control-Expose-Headers"]

    for url in (submitted.json()["status_url"], f"{submitted.json()['result_url']}?format=json"):
        read = requests.get(url, headers={"Origin": GRAPH}, timeout=10)
        assert read.status_code == 200
        assert read.headers["Access-Control-Allow-Origin"] == GRAPH
        assert read.headers["Vary"] == "Origin"


def test_errors_carry_the_cors_headers_so_the_page_can_read_the_message(allowing):
    bad = requests.post(
        f"{allowing['submit']}/submit", json={"radius_mean": -1}, headers={"Origin": GRAPH}, timeout=10
    )
    assert bad.status_code == 400
    assert bad.headers["Access-Control-Allow-Origin"] == GRAPH
    assert error_of(bad)["feature"] == "radius_mean"

    missing = requests.get(f"{allowing['status']}/status/{JOB_ID}", headers={"Origin": GRAPH}, timeout=10)
    assert missing.status_code == 404
    assert missing.headers["Access-Control-Allow-Origin"] == GRAPH

    wrong_method = requests.delete(f"{allowing['submit']}/submit", headers={"Origin": GRAPH}, timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Access-Control-Allow-Origin"] == GRAPH


def test_redis_down_is_a_503_the_page_can_read(function_processes):
    status = function_processes.start(
        "status",
        {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "CORS_ALLOWED_ORIGINS": GRAPH},
    )

    response = requests.get(f"{status}/status/{JOB_ID}", headers={"Origin": GRAPH}, timeout=30)

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Access-Control-Allow-Origin"] == GRAPH
    assert error_of(response)["code"] == "unavailable"


def test_answers_to_other_origins_and_to_curl_carry_no_cors_headers(allowing):
    status_url = f"{allowing['status']}/status/{JOB_ID}"
    for headers in ({"Origin": STRANGER}, {}):
        assert cors_headers(requests.get(status_url, headers=headers, timeout=10)) == {}
        posted = requests.post(f"{allowing['submit']}/submit", json={}, headers=headers, timeout=10)
        assert posted.status_code == 400
        assert cors_headers(posted) == {}


def test_without_cors_allowed_origins_no_origin_is_allowed(services):
    response = preflight(f"{services['submit']}/submit", GRAPH)

    assert response.status_code == 204
    assert cors_headers(response) == {}
    assert "Vary" not in response.headers


def test_options_on_a_path_no_route_takes_is_a_json_404(allowing):
    response = requests.options(f"{allowing['status']}/nowhere", headers={"Origin": GRAPH}, timeout=10)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
