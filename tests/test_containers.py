"""The real images and the compose stack, tested from outside as a user would (``make test-containers``).

``containers/compose.sh up`` builds the four images from the unchanged Dockerfile and starts the
unchanged docker-compose.yml: with docker where an engine answers, else with podman and Debian's
docker-compose against podman's API (stand-in base images where no registry can be pulled).
The tests then use only what a user has: curl, HTTP on the published ports, and the engine's CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from devtools.devserver import ROOT

pytestmark = pytest.mark.containers

COMPOSE_SH = ROOT / "containers" / "compose.sh"
PROJECT = "tumorscope-check"
GATEWAY = "http://localhost:5000"
PORTS = (5000, 8081, 8082, 8083, 8084)
FUNCTIONS = ("submit", "status", "render", "graph")
#: The original app's README, verbatim: what worked against it must work against the stack.
ORIGINAL_SUBMIT = (
    'curl -X POST http://localhost:5000/submit -H "Content-Type: application/json" '
    """-d '{"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}'"""
)
ORIGINAL_READS = (
    "curl http://localhost:5000/status/{job_id}",
    "curl http://localhost:5000/result/{job_id} --output tumor_plot.png",
    'curl "http://localhost:5000/graph/histogram?feature=radius_mean&bins=15" --output histogram.png',
    'curl "http://localhost:5000/graph/scatter?x=radius_mean&y=texture_mean" --output scatter.png',
)


def compose_sh(*arguments: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    environ = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT}
    return subprocess.run(
        [str(COMPOSE_SH), *arguments], env=environ, capture_output=True, text=True, timeout=timeout
    )


def engine() -> str:
    return "docker" if shutil.which("docker") and subprocess.run(
        ["docker", "info"], capture_output=True, check=False
    ).returncode == 0 else "podman"  # fmt: skip


def engine_cli(*arguments: str) -> str:
    environ = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".containers" / "containers.conf")}
    done = subprocess.run([engine(), *arguments], capture_output=True, text=True, env=environ, check=True)
    return done.stdout


def project_containers() -> list[str]:
    label = f"label=com.docker.compose.project={PROJECT}"
    return engine_cli("ps", "--all", "--filter", label, "--format", "{{.Names}}").split()


def container_of(service: str) -> str:
    (name,) = [c for c in project_containers() if f"_{service}_" in c or f"-{service}-" in c]
    return name


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, float]]:
    taken = [port for port in PORTS if listening(port)]
    assert not taken, f"ports {taken} are in use: the stack publishes them"
    began = time.monotonic()
    up = compose_sh("up")
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    figures = {"up_seconds": time.monotonic() - began}
    yield figures
    down = compose_sh("down", "--volumes")
    assert down.returncode == 0, down.stderr[-3000:]


def run_curl(line: str, directory: Path) -> str:
    done = subprocess.run(line, shell=True, cwd=directory, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (line, done.stderr)
    return done.stdout


def test_the_original_readme_curl_lines_work_unchanged_through_the_gateway(stack, tmp_path) -> None:
    job = json.loads(run_curl(ORIGINAL_SUBMIT, tmp_path))
    assert job["status"] == "complete"  # no Broker in compose: submit answers after the render
    assert job["status_url"] == f"{GATEWAY}/status/{job['job_id']}"

    status, *_ = (run_curl(line.format(job_id=job["job_id"]), tmp_path) for line in ORIGINAL_READS)
    assert json.loads(status)["status"] == "complete"
    for picture in ("tumor_plot.png", "histogram.png", "scatter.png"):
        with Image.open(tmp_path / picture) as image:
            assert image.format == "PNG"
            assert image.size[0] >= 400


@pytest.mark.parametrize(
    "route",
    [
        "/graph/histogram?feature=area_mean&bins=30&log=true",
        "/graph/scatter?x=radius_mean&y=concavity_mean&trend=true",
        "/graph/box?feature=texture_worst&kind=violin",
        "/graph/correlation?features=radius_mean,texture_mean,area_mean",
        "/graph/pairs?features=radius_mean,texture_mean,concavity_mean",
    ],
)
def test_every_graph_route_answers_through_the_gateway(stack, route) -> None:
    picture = requests.get(GATEWAY + route, timeout=120)
    assert picture.status_code == 200, picture.text[:300]
    assert picture.headers["Content-Type"] == "image/png"
    numbers = requests.get(f"{GATEWAY}{route}&format=json", timeout=120)
    assert numbers.status_code == 200
    assert numbers.json()["title"]


def test_graph_serves_the_data_set_on_its_own_port_and_caches_in_the_cache_redis(stack) -> None:
    assert requests.get("http://localhost:8084/dataset", timeout=30).json()["rows"] == 569
    route = "http://localhost:8084/graph/histogram?feature=smoothness_se&bins=11"
    assert [requests.get(route, timeout=60).headers["X-Cache"] for _ in range(2)] == ["miss", "hit"]
    keys = engine_cli(
        "exec", container_of("redis-cache"), "redis-cli", "--scan", "--pattern", "tumorscope:graph:*"
    )
    assert keys.split()
    stored = engine_cli(
        "exec", container_of("redis"), "redis-cli", "--scan", "--pattern", "tumorscope:graph:*"
    )
    assert stored.split() == []


def test_each_function_runs_as_its_non_root_user(stack) -> None:
    for function in FUNCTIONS:
        assert engine_cli("exec", container_of(function), "id", "-u").strip() == "10001"


def test_a_killed_redis_restarted_by_compose_keeps_every_accepted_job(stack) -> None:
    sample = {"radius_mean": 12.0, "texture_mean": 18.0}
    jobs = [requests.post(f"{GATEWAY}/submit", json=sample, timeout=60).json()["job_id"] for _ in range(3)]
    time.sleep(1.5)  # appendfsync everysec: every accepted write is on disk within a second

    kill = compose_sh("compose", "kill", "redis")
    assert kill.returncode == 0, kill.stderr
    assert requests.get(f"{GATEWAY}/status/{jobs[0]}", timeout=30).status_code == 503
    start = compose_sh("compose", "start", "redis")
    assert start.returncode == 0, start.stderr

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answers = [requests.get(f"{GATEWAY}/status/{job_id}", timeout=30) for job_id in jobs]
        if all(answer.status_code == 200 for answer in answers):
            break
        time.sleep(1)
    assert [answer.json()["status"] for answer in answers] == ["complete"] * 3
    assert requests.get(f"{GATEWAY}/result/{jobs[-1]}", timeout=30).headers["Content-Type"] == "image/png"


def test_down_leaves_no_container_network_or_listener(stack) -> None:
    down = compose_sh("down")
    assert down.returncode == 0, down.stderr
    assert project_containers() == []
    assert [
        n for n in engine_cli("network", "ls", "--format", "{{.Name}}").split() if n.startswith(PROJECT)
    ] == []
    assert [port for port in PORTS if listening(port)] == []
    up = compose_sh("up")  # and it comes back, for the teardown's `down --volumes`
    assert up.returncode == 0, up.stderr[-3000:]


def test_figures_image_sizes_up_time_and_each_container_start_to_ready(stack) -> None:
    """Printed for BENCHMARKS.md: each image's size, the stack's up, each container's start to healthy."""
    sizes = {
        f: int(engine_cli("image", "inspect", "--format", "{{.Size}}", f"tumorscope/{f}:0.1.0"))
        for f in FUNCTIONS
    }
    ready = {}
    for service in (*FUNCTIONS, "redis", "redis-cache", "gateway"):
        state = json.loads(engine_cli("inspect", "--format", "{{json .State}}", container_of(service)))
        started = state["StartedAt"]
        healthy = [
            entry["End"]
            for entry in (state.get("Health") or state.get("Healthcheck") or {}).get("Log", [])
            if entry["ExitCode"] == 0
        ]
        ready[service] = (started, healthy[0] if healthy else None)
    assert all(size > 0 for size in sizes.values())
    print(
        f"\ncontainers: up {stack['up_seconds']:.0f} s; image sizes (MB) "
        + ", ".join(f"{f} {s / 1e6:.0f}" for f, s in sizes.items())
    )
    for service, (started, healthy) in ready.items():
        print(f"containers: {service} started {started}, first healthy check ended {healthy}")


def first_answer_seconds(start: list[str], port: int, environ: dict | None = None) -> float:
    """From running ``start`` to the first 200 of ``GET /health/readiness`` on ``port``."""
    began = time.monotonic()
    process = subprocess.Popen(start, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.monotonic() - began < 60:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health/readiness", timeout=1).status_code == 200:
                    return time.monotonic() - began
            except requests.RequestException:
                time.sleep(0.01)
        raise AssertionError(f"{start[0]} never answered on {port}")
    finally:
        if start[0] == engine():
            subprocess.run(
                [engine(), "rm", "--force", "cold-start"], env=environ, capture_output=True, check=False
            )
        process.terminate()
        process.wait(10)


def test_figures_cold_start_of_a_container_beside_the_same_function_as_a_process(stack) -> None:
    """Printed for BENCHMARKS.md: spawn to first answer, 5 rounds each, container and process interleaved."""
    from devtools.devserver import SPECS, free_port, function_command

    environ = {**os.environ, "CONTAINERS_CONF": str(ROOT / ".containers" / "containers.conf")}
    for function in ("status", "graph"):
        containers, processes = [], []
        for _ in range(5):
            port = free_port()
            containers.append(first_answer_seconds(
                [engine(), "run", "--name", "cold-start", "--rm", "-p", f"127.0.0.1:{port}:8080",
                 "-e", "REDIS_URL=redis://127.0.0.1:1/0", f"tumorscope/{function}:0.1.0"],
                port, environ,
            ))  # fmt: skip
            port = free_port()
            command = function_command(SPECS[function], port)
            processes.append(first_answer_seconds(command, port, {**os.environ, "PYTHONPATH": str(ROOT)}))
        containers.sort()
        processes.sort()
        print(
            f"\ncontainers: {function} cold start, median of 5: container {containers[2]:.2f} s "
            f"({containers[0]:.2f}-{containers[-1]:.2f}), process {processes[2]:.2f} s "
            f"({processes[0]:.2f}-{processes[-1]:.2f})"
        )
        assert containers[2] > 0
