"""Fixtures: a private redis-server, the four functions as real processes, a stand-in event sink.

Also how the tests are picked and spread (``make test`` runs them on pytest-xdist workers):

- a test that uses a server fixture (:data:`SERVER_FIXTURES`) is marked ``integration`` here, so
  ``make test-unit`` (``-m "not integration"``) runs only those that need no server;
- every xdist worker is a pytest session of its own: its own redis-server and function processes,
  on free ports;
- the tests of a module that shares a module-scoped fixture (a stack started once for them) go to
  one worker together (``xdist_group`` named after the module), so that stack starts once;
- ``pytest.mark.serial`` (a fixed port, or timing that another such test would upset) puts a test in
  one group, ``serial``, whose tests run one after another on one worker; tests that share any
  other fixed resource name a group of their own with ``pytest.mark.xdist_group("NAME")``;
- ``pytest.mark.slow`` (tens of seconds) sends a test's module to the workers first, so that no
  long test is left to run alone at the end.
"""

from __future__ import annotations

import json
import os
import tempfile
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

#: This file's fixtures that start a redis-server or function processes: a test using one is ``integration``.
SERVER_FIXTURES = frozenset(
    {"redis_server", "redis_db", "loaded_redis", "services", "function_processes", "module_functions"}
)
#: Module-scoped fixtures cheap enough to make again on another worker: they group no tests.
CHEAP_MODULE_FIXTURES = frozenset({"module_sink"})


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark what needs a server ``integration``; give xdist the groups of tests that share a stack."""
    fixtures = _fixtures_used(item)
    uses_server = any(
        name in SERVER_FIXTURES and fixture.func.__module__ == __name__ for name, fixture in fixtures
    )
    if uses_server and not item.get_closest_marker("integration"):
        item.add_marker(pytest.mark.integration)
    shares_a_stack = any(
        fixture.scope in ("module", "package", "class") and name not in CHEAP_MODULE_FIXTURES
        for name, fixture in fixtures
    )
    if item.get_closest_marker("serial"):
        item.add_marker(pytest.mark.xdist_group("serial"))
    elif shares_a_stack and not item.get_closest_marker("xdist_group"):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))


def _fixtures_used(item: pytest.Item) -> list[tuple[str, pytest.FixtureDef]]:
    """Each fixture ``item`` uses, directly or through another, as (name, the definition that applies)."""
    info = getattr(item, "_fixtureinfo", None)  # pytest's own record of them, kept on every test function
    if info is None:
        return []
    return [(name, definitions[-1]) for name, definitions in info.name2fixturedefs.items() if definitions]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules with a ``slow`` test first, then those sharing a module stack: the longest work starts first.

    A module's tests keep their order and stay together, so its module fixtures start once. On an
    xdist worker, the groups are written where :class:`GroupScheduling` reads them.
    """
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def weight(tests: list[pytest.Item]) -> int:
        if any(test.get_closest_marker("slow") for test in tests):
            return 0
        if any(test.get_closest_marker("xdist_group") for test in tests):
            return 1
        return 2

    items[:] = [item for tests in sorted(modules.values(), key=weight) for item in tests]
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        groups = {item.nodeid: group for item in items if (group := group_of(item))}
        written = groups_file(worker["testrunuid"]).with_suffix(f".{worker['workerid']}")
        written.write_text(json.dumps(groups))
        written.replace(groups_file(worker["testrunuid"]))  # whole, whichever worker is last


def group_of(item: pytest.Item) -> str | None:
    """The xdist group of ``item`` (its ``xdist_group`` names joined, as pytest-xdist joins them), if any."""
    names = sorted(
        {
            str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
            for mark in item.iter_markers("xdist_group")
        }
    )
    return "_".join(names) or None


def groups_file(testrunuid: str) -> Path:
    """Where the workers of run ``testrunuid`` leave their tests' groups for the scheduler."""
    return Path(tempfile.gettempdir()) / f"tumorscope-xdist-groups-{testrunuid}.json"


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup`` with the workers' groups (xdist 3.8's own cannot rename pytest 9's node ids)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """Load scheduling in which the tests of one xdist group are one unit of work, run on one worker.

        Tests that share a node id (schemathesis makes one per operation, all alike) are told apart
        by a suffix: pytest-xdist keys its work by node id, and would run only the first of them.
        """

        def __init__(self, config: pytest.Config, log) -> None:
            super().__init__(config, log)
            self.groups: dict[str, str] = {}

        def schedule(self) -> None:
            if self.collection is None:  # the first call, once every worker has collected
                written = groups_file(self.nodes[0].workerinput["testrunuid"])
                self.groups = json.loads(written.read_text())
                written.unlink(missing_ok=True)
                for node, collection in self.registered_collections.items():
                    self.registered_collections[node] = unique_keys(collection)
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.groups.get(nodeid.split(REPEAT, 1)[0], nodeid)

    return GroupScheduling(config, log)


#: Between a node id and the number of the repeat, where several tests share one node id.
REPEAT = "\x00"


def unique_keys(nodeids: list[str]) -> list[str]:
    """``nodeids`` in order, the second and later of a repeated one suffixed with REPEAT and a count."""
    seen: dict[str, int] = {}
    keys = []
    for nodeid in nodeids:
        seen[nodeid] = seen.get(nodeid, 0) + 1
        keys.append(nodeid if seen[nodeid] == 1 else f"{nodeid}{REPEAT}{seen[nodeid]}")
    return keys


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
    try:  # a start that fails stops those already started
        urls = {"render": functions.start("render", environ)}
        environ["K_SINK"] = urls["render"]
        urls["status"] = functions.start("status", environ)
        environ["STATUS_BASE_URL"] = urls["status"]
        urls["submit"] = functions.start("submit", environ)
        urls["graph"] = functions.start("graph", environ)
        yield urls
    finally:
        stop(functions.processes)


@pytest.fixture
def function_processes(tmp_path: Path) -> Iterator[FunctionProcesses]:
    """For tests that need a function with an environment of their own."""
    functions = FunctionProcesses(tmp_path)
    yield functions
    stop(functions.processes)


@pytest.fixture(scope="module")
def module_functions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FunctionProcesses]:
    """Functions that a module's tests share, where they only read: started once, stopped after the module.

    A cold function costs a second or two; tests that each start the same one with the same
    environment should share it from a module-scoped fixture started here (and tell their own
    jobs apart by id), keeping ``function_processes`` for those that change or break it.
    """
    functions = FunctionProcesses(tmp_path_factory.mktemp("module-logs"))
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

    def reset(self) -> None:
        """As new: nothing received, answering 202."""
        self.received.clear()
        self.status = 202


@pytest.fixture(scope="module")
def module_sink() -> Iterator[EventSink]:
    """The module's event sink, one server for all its tests; they see it as ``event_sink``."""
    with EventSink() as sink:
        yield sink


@pytest.fixture
def event_sink(module_sink: EventSink) -> Iterator[EventSink]:
    """The stand-in Broker as new for this test: nothing received, answering 202.

    It is the module's one sink, so a function started once for the module with
    ``K_SINK=module_sink.url`` delivers to the ``event_sink`` each of its tests reads.
    """
    module_sink.reset()
    yield module_sink
    module_sink.reset()
