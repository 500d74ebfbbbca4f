"""The compose gateway: gateway/default.conf.template in a real nginx in front of the real functions.

The template is filled in as the nginx image's envsubst step fills it in (only the variables it
is given), with local addresses instead of compose's service names, and the original README's
curl journey runs through it on one port.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser import Problems, chromium
from conftest import FunctionProcesses
from helpers import client_at, error_of

from devtools.devserver import free_port, stop, wait_for_port
from knative.smoke import Urls, journey

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parent.parent / "gateway" / "default.conf.template"


def render_template(template: str, values: dict[str, str]) -> str:
    """What ``envsubst`` does with the given variables: ${NAME} of those only; nginx's $vars stay."""
    return re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def nginx_binary() -> str:
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    assert found, "nginx is missing: make test installs Debian's package (as root)"
    return found


def main_config(prefix: Path, server_config: Path) -> str:
    """A whole nginx.conf around the template's server block, keeping every file under ``prefix``."""
    temp = {name: prefix / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for folder in temp.values():
        folder.mkdir()
    return f"""
user {getpass.getuser()};
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {server_config};
}}
"""


def start_gateway(prefix: Path, port: int, services: dict[str, str]) -> subprocess.Popen:
    """nginx on ``port``, the template filled in for ``services`` (name -> URL), its files in ``prefix``."""
    values = {
        "GATEWAY_PORT": str(port),
        **{
            f"{name.upper()}_ADDR": services[name].removeprefix("http://")
            for name in ("submit", "status", "graph")
        },
    }
    server = prefix / "default.conf"
    server.write_text(render_template(TEMPLATE.read_text(), values))
    (prefix / "nginx.conf").write_text(main_config(prefix, server))
    command = [
        nginx_binary(),
        "-p",
        str(prefix),
        "-c",
        str(prefix / "nginx.conf"),
        "-e",
        str(prefix / "error.log"),
    ]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


@pytest.fixture(scope="module")
def gateway(services, tmp_path_factory) -> Iterator[str]:
    """nginx on a free port, routing to the ``services`` processes; its base URL."""
    port = free_port()
    process = start_gateway(tmp_path_factory.mktemp("nginx"), port, services)
    yield f"http://127.0.0.1:{port}"
    stop([process])


@pytest.fixture(scope="module")
def one_origin(loaded_redis, tmp_path_factory) -> Iterator[str]:
    """The functions wired as in compose, behind the gateway: status's links are the gateway's."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    functions = FunctionProcesses(tmp_path_factory.mktemp("one-origin-logs"))
    environ = {"REDIS_URL": loaded_redis.url, "STATUS_BASE_URL": url}
    try:  # a start that fails (no nginx) stops those already started
        urls = {"render": functions.start("render", environ)}
        urls.update(
            {
                name: functions.start(name, {**environ, "K_SINK": urls["render"]})
                for name in ("status", "submit", "graph")
            }
        )
        functions.processes.append(start_gateway(tmp_path_factory.mktemp("nginx-one-origin"), port, urls))
        yield url
    finally:
        stop(functions.processes)


def test_the_template_names_only_the_variables_compose_sets():
    from build_files import compose

    variables = set(re.findall(r"\$\{(\w+)\}", TEMPLATE.read_text()))

    assert variables == set(compose()["services"]["gateway"]["environment"])


def test_the_readme_curl_journey_runs_through_the_gateway(gateway):
    steps: list[str] = []

    job_id = journey(Urls(gateway, gateway, gateway), report=steps.append)

    assert len(job_id) == 32
    assert [step.split(" ->")[0] for step in steps] == [
        "POST /submit",
        f"GET /status/{job_id}",
        f"GET /result/{job_id}",
        "GET /graph/histogram?feature=radius_mean&bins=15",
        "GET /graph/scatter?x=radius_mean&y=texture_mean",
    ]


def test_the_functions_json_answers_and_headers_pass_through(gateway):
    submitted = requests.post(f"{gateway}/submit", json={"radius_mean": 14.5}, timeout=30)
    assert submitted.status_code == 202
    assert submitted.headers["Location"].endswith(f"/status/{submitted.json()['job_id']}")

    summary = requests.get(f"{gateway}/result/{submitted.json()['job_id']}?format=json", timeout=10)
    assert summary.json()["features"]["radius_mean"]["value"] == 14.5

    assert error_of(requests.get(f"{gateway}/status/not-a-job-id", timeout=10))["code"] == "invalid_job_id"
    bad = requests.post(
        f"{gateway}/submit", data="{", headers={"Content-Type": "application/json"}, timeout=10
    )
    assert bad.status_code == 400
    assert error_of(bad)


def test_the_explorer_page_and_what_it_reads_come_through_the_gateway_on_one_origin(gateway):
    page = requests.get(f"{gateway}/", headers={"Accept": "text/html,*/*;q=0.8"}, timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'id="sample-form"' in page.text
    assert requests.get(f"{gateway}/", timeout=10).json()["service"] == "graph"  # curl: the JSON index

    for path in ("/explorer/explorer.js", "/explorer/explorer.css", "/features", "/dataset"):
        assert requests.get(f"{gateway}{path}", timeout=30).status_code == 200, path
    rows = requests.get(f"{gateway}/dataset/rows", params={"diagnosis": "M", "_size": 200}, timeout=30).json()
    assert rows["next"].startswith(f"{gateway}/dataset/rows?")  # the gateway's origin, its port too
    following = requests.get(rows["next"], timeout=30).json()
    assert len(rows["rows"]) + len(following["rows"]) == rows["total"] == 212
    assert requests.get(f"{gateway}/dataset/rows/842302", timeout=30).json()["diagnosis"] == "M"
    # graph has no SUBMIT_BASE_URL here, as in compose: the page posts to its own origin's /submit.
    assert requests.get(f"{gateway}/explorer/services", timeout=10).json()["submit"] == "/submit"


def test_paths_the_gateway_does_not_route_get_a_json_404(gateway):
    response = requests.get(f"{gateway}/admin", timeout=10)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_the_gateway_answers_its_own_healthcheck(gateway):
    response = requests.get(f"{gateway}/healthz", timeout=10)

    assert response.json() == {"status": "ok"}


def test_the_explorer_behind_the_gateway_uses_its_one_origin_for_everything(one_origin, tmp_path):
    with chromium(tmp_path / "profile") as browser:
        problems = Problems()
        page = problems.watch(browser.new_page())
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{one_origin}/?radius_mean=14.5&texture_mean=20")
        summary = page.wait_for_selector("#summary:has-text('percentile')", timeout=60_000).inner_text()

    assert "not a diagnosis" in summary
    assert {re.match(r"https?://[^/]+", url)[0] for url in requested} == {one_origin}
    assert any(url.startswith(f"{one_origin}/result/") for url in requested)
    assert problems.all() == []


@pytest.fixture
def limited_behind_gateway(loaded_redis, event_sink, tmp_path) -> Iterator[str]:
    """submit with a small limit behind the gateway, trusting its one hop, as compose sets it."""
    functions = FunctionProcesses(tmp_path)
    environ = {
        "REDIS_URL": loaded_redis.url,
        "K_SINK": event_sink.url,
        "TRUSTED_PROXY_HOPS": "1",
        "SUBMIT_RATE_LIMIT": "3/minute",
    }
    port = free_port()
    (tmp_path / "nginx").mkdir()
    try:
        urls = {name: functions.start(name, environ) for name in ("submit", "status", "graph")}
        functions.processes.append(start_gateway(tmp_path / "nginx", port, urls))
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(functions.processes)


def test_behind_the_gateway_clients_are_told_apart_by_the_address_it_saw_not_the_one_they_forge(
    limited_behind_gateway,
):
    a, b = client_at("127.0.0.2"), client_at("127.0.0.3")

    def send(client, forged: str | None = None) -> requests.Response:
        headers = {"X-Forwarded-For": forged} if forged else {}
        return client.post(
            f"{limited_behind_gateway}/submit", json={"radius_mean": 14.5}, headers=headers, timeout=30
        )

    # A names B, then a made-up address: the gateway appends 127.0.0.2 after them, and that counts.
    assert [send(a, forged).status_code for forged in ("127.0.0.3", "198.51.100.7", None)] == [202] * 3
    refused = send(a, "127.0.0.3")
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["RateLimit-Policy"] == '"submit";q=3;w=60'

    assert [send(b).status_code for _ in range(3)] == [202] * 3  # B's budget was never A's to spend
    assert send(b).status_code == 429
