"""docker-compose.yml: accepted by docker-compose, wired like the cluster, healthchecks that work.

No Docker engine runs here: ``docker-compose config`` (Debian's docker-compose) validates and
resolves the file, and each healthcheck command runs for real against a function process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml
from build_files import COMPOSE_FILE, DOCKERFILE, FUNCTIONS, ROOT, images
from dockerfile_parse import DockerfileParser

from devtools.devserver import free_port
from shared.config import load_config

IMAGE_PORT = 8080  # the Dockerfile's EXPOSE and PORT
CLUSTER_URL = "redis+cluster://redis-node-0:6379,redis-node-1:6379,redis-node-2:6379"


def compose_config(**environ: str) -> dict:
    """The file as docker-compose resolves it (anchors merged, ${VARIABLES} filled in)."""
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: make test installs Debian's package (as root)"
    resolved = subprocess.run(
        [docker_compose, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        env={**os.environ, **environ},
        check=False,
    )
    assert resolved.returncode == 0, resolved.stderr
    return yaml.safe_load(resolved.stdout)


def container_port(port: dict | str) -> int:
    """The container side of a ports entry (docker-compose 1.x keeps "127.0.0.1:8081:8080/tcp")."""
    return int(port["target"]) if isinstance(port, dict) else int(port.rsplit(":", 1)[1].split("/")[0])


@pytest.fixture(scope="module")
def services() -> dict[str, dict]:
    return compose_config()["services"]


def test_docker_compose_accepts_the_file_and_it_has_every_service(services):
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == {"redis", "redis-cache", *FUNCTIONS, "gateway"}


def test_the_cluster_profile_adds_a_redis_cluster_of_six_nodes_that_store_url_names():
    services = compose_config(STORE_URL=CLUSTER_URL)["services"]
    nodes = [f"redis-node-{index}" for index in range(6)]
    cluster = {name for name, service in services.items() if service.get("profiles") == ["cluster"]}
    assert cluster == {*nodes, "redis-cluster-create"}
    for name in nodes:
        assert option(services[name], "--cluster-enabled") == "yes"
        assert option(services[name], "--maxmemory-policy") == "noeviction"
        assert services[name]["image"] == services["redis"]["image"]  # the same redis-server
    create = services["redis-cluster-create"]
    assert set(create["depends_on"]) == set(nodes)
    assert "--cluster-replicas 1" in create["command"][0]
    for function in FUNCTIONS:
        assert services[function]["environment"]["REDIS_URL"] == CLUSTER_URL
    assert load_config({"REDIS_URL": CLUSTER_URL}).redis_url == CLUSTER_URL


def test_images_default_to_tumorscope_and_follow_registry_and_tag():
    assert compose_config()["services"]["graph"]["image"] == "tumorscope/graph:0.1.0"
    overridden = compose_config(REGISTRY="registry.example.com/team", TAG="abc123")["services"]
    assert {overridden[f]["image"] for f in FUNCTIONS} == {
        f"registry.example.com/team/{f}:abc123" for f in FUNCTIONS
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_function_is_built_from_the_dockerfile_and_waits_for_a_healthy_redis(services, function):
    service = services[function]
    build_args = images()[function].build_args
    parser = DockerfileParser(str(DOCKERFILE), build_args=build_args)

    assert service["build"]["context"] == str(ROOT)
    assert (ROOT / "functions" / build_args["FUNCTION"] / "main.py").exists()
    assert parser.envs["FUNCTION_TARGET"] == function  # the Knative Service of the same name
    assert parser.envs["PORT"] == str(IMAGE_PORT)
    assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
    assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert int(service["environment"]["THREADS"]) >= 1
    assert "healthcheck" in service
    assert {container_port(p) for p in service["ports"]} == {IMAGE_PORT}


def test_submit_sends_its_events_to_render_once_render_is_healthy(services):
    submit = services["submit"]

    assert submit["environment"]["K_SINK"] == f"http://render:{IMAGE_PORT}"
    assert submit["depends_on"]["render"] == {"condition": "service_healthy"}


def option(service: dict, name: str) -> str:
    return service["command"][service["command"].index(name) + 1]


def test_the_store_keeps_an_append_only_file_on_a_volume_and_is_never_evicted(services):
    redis = services["redis"]

    assert option(redis, "--appendonly") == "yes"
    assert any(v.startswith("redis-data:/data") for v in redis["volumes"])
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert option(redis, "--maxmemory-policy") == "noeviction"
    assert option(redis, "--maxmemory").endswith("mb")


def test_graph_caches_plots_in_a_second_redis_that_evicts_and_keeps_nothing(services):
    cache = services["redis-cache"]

    assert services["graph"]["environment"]["CACHE_REDIS_URL"] == "redis://redis-cache:6379/0"
    assert option(cache, "--maxmemory-policy") == "allkeys-lru"
    assert option(cache, "--appendonly") == "no"
    assert option(cache, "--save") == ""
    assert "volumes" not in cache
    assert cache["tmpfs"] == ["/data"]
    assert int(option(cache, "--maxmemory").removesuffix("mb")) < int(
        option(services["redis"], "--maxmemory").removesuffix("mb")
    )
    assert cache["image"] == services["redis"]["image"]


def test_the_gateway_serves_port_5000_from_the_template_once_the_http_functions_are_healthy(services):
    gateway = services["gateway"]

    assert [(int(p["published"]), container_port(p)) for p in gateway["ports"]] == [(5000, 5000)]
    assert gateway["environment"]["GATEWAY_PORT"] == "5000"
    assert gateway["volumes"] == [
        f"{ROOT}/gateway/default.conf.template:/etc/nginx/templates/default.conf.template:ro"
    ]
    for function in ("submit", "status", "graph"):
        assert gateway["environment"][f"{function.upper()}_ADDR"] == f"{function}:{IMAGE_PORT}"
        assert gateway["depends_on"][function] == {"condition": "service_healthy"}


def run_healthcheck(test: list[str], port: int) -> int:
    """Run a compose healthcheck (["CMD", ...]) here, as the container would, with its PORT."""
    assert test[0] == "CMD"
    command = [sys.executable if test[1] == "python" else test[1], *test[2:]]
    environ = {**os.environ, "PORT": str(port), "PYTHONPATH": str(ROOT)}  # the image's PYTHONPATH=/app
    return subprocess.run(command, env=environ, check=False).returncode


@pytest.mark.integration
@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_healthcheck_passes_on_a_running_function_and_fails_without_one(
    services, function_processes, loaded_redis, function
):
    url = function_processes.start(function, {"REDIS_URL": loaded_redis.url})
    test = services[function]["healthcheck"]["test"]

    assert run_healthcheck(test, int(url.rsplit(":", 1)[1])) == 0
    assert run_healthcheck(test, free_port()) != 0
