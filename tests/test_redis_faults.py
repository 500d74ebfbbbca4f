"""Redis down, hung or restarted: quick 503s, recovery without restarts, no accepted job lost."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from helpers import error_of
from reliability import PrivateRedis, deliver, job_status, wait_until_finished

from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.web.events import job_submitted

pytestmark = pytest.mark.integration

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0}
JOB_ID = "0123456789abcdef0123456789abcdef"
CASE_ID = 842302  # the bundled data set's first case
#: Every route that needs Redis, as (service, method, path, JSON body).
ROUTES = [
    ("submit", "POST", "/submit", SAMPLE),
    ("submit", "POST", "/", SAMPLE),
    ("status", "GET", f"/status/{JOB_ID}", None),
    ("status", "GET", f"/result/{JOB_ID}", None),
    ("status", "GET", f"/result/{JOB_ID}?format=json", None),
    ("graph", "GET", "/graph/histogram?feature=area_mean&bins=12", None),
    ("graph", "GET", "/graph/histogram?format=json", None),
    ("graph", "GET", "/graph/scatter?x=radius_mean&y=texture_mean", None),
    ("graph", "GET", "/graph/box?feature=area_mean&kind=violin", None),
    ("graph", "GET", "/graph/correlation?features=radius_mean,area_mean", None),
    ("graph", "GET", "/graph/pairs", None),
    ("graph", "GET", "/features", None),
    ("graph", "GET", "/dataset", None),
    ("graph", "GET", "/dataset/rows?diagnosis=M&radius_mean__gt=15", None),
    ("graph", "GET", f"/dataset/rows/{CASE_ID}", None),
]


class Stack:
    """The four functions on one private Redis, wired as ``make dev`` wires them (render is K_SINK)."""

    def __init__(self, function_processes, redis_server: PrivateRedis, k_sink: str = "") -> None:
        self.redis = redis_server
        environ = {"REDIS_URL": redis_server.url, "REDIS_TIMEOUT_SECONDS": "1", "THREADS": "4"}
        self.urls = {"render": function_processes.start("render", environ)}
        self.urls["status"] = function_processes.start("status", environ)
        sink = {"K_SINK": k_sink or self.urls["render"], "STATUS_BASE_URL": self.urls["status"]}
        self.urls["submit"] = function_processes.start("submit", {**environ, **sink})
        self.urls["graph"] = function_processes.start("graph", environ)
        self.processes = list(function_processes.processes[-4:])

    def request(self, service: str, method: str, path: str, body: dict | None) -> requests.Response:
        # The timeout is the bound: a hang fails the test instead of stalling it.
        return requests.request(method, self.urls[service] + path, json=body, timeout=15)

    def all_alive(self) -> bool:
        return all(process.poll() is None for process in self.processes)


@pytest.fixture
def private_redis(tmp_path: Path) -> PrivateRedis:
    server = PrivateRedis(tmp_path / "redis")
    load_file(server.client(), BUNDLED_DATASET)
    yield server
    server.stop()


@pytest.fixture
def stack(function_processes, private_redis) -> Stack:
    return Stack(function_processes, private_redis)


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    error = error_of(response)
    assert error["code"] == "unavailable"
    assert "Traceback" not in response.text


def assert_serving(stack: Stack) -> None:
    """A whole journey and a plot work: the processes are (again) healthy."""
    submitted = stack.request("submit", "POST", "/submit", SAMPLE)
    assert submitted.status_code == 202, submitted.text[:300]
    assert wait_until_finished(stack.urls["status"], submitted.json()["job_id"])["status"] == "complete"
    plot = stack.request("graph", "GET", "/graph/histogram?feature=area_mean&bins=12", None)
    assert plot.status_code == 200


def test_with_redis_stopped_every_route_answers_503_and_recovers_when_it_returns(stack: Stack) -> None:
    assert_serving(stack)
    stack.redis.stop()

    for service, method, path, body in ROUTES:
        assert_unavailable(stack.request(service, method, path, body))
    assert_unavailable(deliver(stack.urls["render"], job_submitted(JOB_ID, SAMPLE, {})))  # Broker retries
    for service in ("submit", "status", "graph"):  # probes need no Redis: the pods stay in service
        assert stack.request(service, "GET", "/health/liveness", None).status_code == 200
    assert stack.request("graph", "GET", "/explorer/explorer.js", None).status_code == 200  # static files

    stack.redis.start()  # an empty Redis: no persistence here, the data set loads again by itself

    assert_serving(stack)
    assert stack.all_alive()  # the same processes: nothing was restarted


def test_with_redis_hung_every_route_answers_503_within_the_timeout(stack: Stack) -> None:
    assert_serving(stack)

    with stack.redis.frozen(), ThreadPoolExecutor(len(ROUTES)) as pool:
        answers = list(pool.map(lambda route: stack.request(*route), ROUTES))
        delivery = deliver(stack.urls["render"], job_submitted(JOB_ID, SAMPLE, {}))

    for answer in [*answers, delivery]:
        assert_unavailable(answer)
    assert_serving(stack)
    assert stack.all_alive()


def test_with_an_append_only_file_no_accepted_job_is_lost_to_a_kill(
    function_processes, tmp_path: Path, event_sink
) -> None:
    redis_server = PrivateRedis(tmp_path / "redis", "--appendonly", "yes")
    try:
        assert redis_server.client().config_get("appendonly") == {"appendonly": "yes"}
        load_file(redis_server.client(), BUNDLED_DATASET)
        stack = Stack(function_processes, redis_server, k_sink=event_sink.url)  # the Broker holds events
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: stack.request("submit", "POST", "/submit", SAMPLE), range(24)))
        accepted = [answer.json()["job_id"] for answer in answers if answer.status_code == 202]
        assert len(accepted) == 24

        redis_server.kill()  # SIGKILL right after the last 202: no shutdown, no final save
        assert_unavailable(stack.request("status", "GET", f"/status/{accepted[-1]}", None))
        redis_server.start()

        for job_id in accepted:
            assert job_status(stack.urls["status"], job_id)["status"] == "queued"
        render = stack.urls["render"]
        with ThreadPoolExecutor(4) as pool:  # the Broker delivers the events it holds
            delivered = pool.map(
                lambda held: requests.post(render, headers=held.headers, data=held.body, timeout=60),
                event_sink.received,
            )
            assert [answer.status_code for answer in delivered] == [200] * len(accepted)
        for job_id in accepted:
            assert job_status(stack.urls["status"], job_id)["status"] == "complete"
    finally:
        redis_server.stop()


def test_the_routes_above_are_every_route_that_needs_redis(services) -> None:
    """A route added later must join ROUTES: indexes, probes, GET /submit, the explorer's files need none."""
    covered = {
        (
            service,
            method,
            path.split("?")[0].replace(JOB_ID, "<path:job_id>").replace(str(CASE_ID), "<case_id>"),
        )
        for service, method, path, _ in ROUTES
    }
    for service in ("submit", "status", "graph"):
        for route in requests.get(f"{services[service]}/", timeout=10).json()["routes"]:
            needs_no_redis = route["path"].startswith(("/health/", "/explorer/")) or (
                route["method"] == "GET" and route["path"] in ("/", "/submit")
            )
            if not needs_no_redis:
                assert (service, route["method"], route["path"]) in covered, route
