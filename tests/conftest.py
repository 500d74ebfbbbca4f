"""Fixtures: a private redis-server, the four functions as real processes, a stand-in event sink."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import redis
from helpers import UNLIMITED, LocalServer

from devtools.devserver import SPECS, free_port, start_function, start_redis, stop
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file

# render warms its panel backgrounds up (some 2 s of CPU) once it starts; the suite starts dozens
# of render processes on two cores, so only the tests about the warm-up or about speed ask for it.
os.environ.setdefault("RENDER_WARM_UP", "false")


@dataclass
class RedisServer:
    port: int
    url: str

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(port=self.port, db=db)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the tests' own, on a free port; never the machine's."""
    port = free_port()
    process = start_redis(port, tmp_path_factory.mktemp("redis"))
    yield RedisServer(port, f"redis://127.0.0.1:{port}/0")
    stop([process])


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """An empty database (number 1) for unit tests; the function processes use database 0."""
    client = redis_server.client(db=1)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(scope="session")
def loaded_redis(redis_server: RedisServer) -> RedisServer:
    """Database 0 with the bundled data set loaded, as ``make dev`` leaves it."""
    load_file(redis_server.client(), BUNDLED_DATASET)
    return redis_server


@dataclass
class FunctionProcesses:
    """Starts functions on free ports with the given environment (no per-client limits unless it
    sets them); stops them all at the end."""

    log_dir: Path
    processes: list = field(default_factory=list)

    def start(self, name: str, environ: dict[str, str]) -> str:
        environ = {**UNLIMITED, **environ}
        port = free_port()
        log = open(self.log_dir / f"{name}-{port}.log", "w")  # noqa: SIM115 - closed with the process
        self.processes.append(start_function(SPECS[name], port, environ, log))
        return f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def services(loaded_redis: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The four functions wired as ``make dev`` wires them: name -> base URL."""
    functions = FunctionProcesses(tmp_path_factory.mktemp("logs"))
    environ = {"REDIS_URL": loaded_redis.url, "THREADS": "4"}
    urls = {"render": functions.start("render", environ)}
    environ["K_SINK"] = urls["render"]
    urls["status"] = functions.start("status", environ)
    environ["STATUS_BASE_URL"] = urls["status"]
    urls["submit"] = functions.start("submit", environ)
    urls["graph"] = functions.start("graph", environ)
    yield urls
    stop(functions.processes)


@pytest.fixture
def function_processes(tmp_path: Path) -> Iterator[FunctionProcesses]:
    """For tests that need a function with an environment of their own."""
    functions = FunctionProcesses(tmp_path)
    yield functions
    stop(functions.processes)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class EventSink(LocalServer):
    """A real HTTP server standing in for the Knative Broker: records requests, answers ``status``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 202
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.received.append(Received(self.path, dict(self.headers), body))
                self.send_response(sink.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        super().__init__(Handler)


@pytest.fixture
def event_sink() -> Iterator[EventSink]:
    with EventSink() as sink:
        yield sink
