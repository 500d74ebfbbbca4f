"""The processes the benchmark measures: Tumorscope's functions and the floors, started one way."""

from __future__ import annotations

import http.client
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devtools.devserver import ROOT, SPECS, FunctionSpec, free_port, launch_function, stop, wait_for_http

FLOORS = ROOT / "bench" / "floors"


@dataclass(frozen=True)
class Source:
    """A function the benchmark runs (Tumorscope's or a floor), with the THREADS it is deployed with."""

    spec: FunctionSpec
    threads: int = 4

    @property
    def name(self) -> str:
        return self.spec.name


def _floor(name: str) -> FunctionSpec:
    return FunctionSpec(name, name, FLOORS / name / "main.py")


#: THREADS as the deployment sets them (docker-compose and Knative containerConcurrency):
#: I/O-bound submit and status take 8, CPU-bound graph 4, render 2. A floor takes its function's.
SOURCES = {
    "submit": Source(SPECS["submit"], threads=8),
    "status": Source(SPECS["status"], threads=8),
    "render": Source(SPECS["render"], threads=2),
    "graph": Source(SPECS["graph"], threads=4),
    "hello": Source(_floor("hello"), threads=8),
    "light": Source(_floor("light"), threads=8),
    "plot": Source(_floor("plot"), threads=4),
}


@dataclass
class Service:
    source: Source
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        """The gunicorn master and its workers."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            workers = [int(pid) for pid in children.read_text().split()]
        except OSError:
            workers = []
        return [self.process.pid, *workers]

    def stop(self) -> None:
        stop([self.process])


def spawn(source: Source, environ: dict[str, str], log_dir: Path) -> Service:
    """Start ``source`` as ``functions-framework`` does in its container; do not wait for it."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    environ = {"THREADS": str(source.threads), "LOG_LEVEL": "WARNING", **environ}
    with open(log_dir / f"{source.name}-{port}.log", "w") as log:
        process = launch_function(source.spec, port, environ, log)
    return Service(source, process, port)


def request(
    port: int, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def first_answer(
    service: Service,
    method: str,
    path: str,
    expect: int,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> None:
    """Send the request until the port accepts it; fail unless the first answer is ``expect``."""
    deadline = time.monotonic() + timeout
    while True:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.source.name} exited with {service.process.returncode}")
        try:
            status, content = request(service.port, method, path, body, headers)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{service.source.name} did not listen within {timeout} s") from None
            time.sleep(0.002)
            continue
        if status != expect:
            answer = f"{status}, not {expect}: {content[:200]!r}"
            raise RuntimeError(f"{service.source.name} {method} {path}: {answer}")
        return


def start_warm(source: Source, environ: dict[str, str], log_dir: Path) -> Service:
    """A function started and answering: for the warm figures."""
    service = spawn(source, environ, log_dir)
    wait_for_http(service.port, service.process)
    return service


def cpu_seconds(service: Service) -> float:
    """User plus system CPU time of the master and its workers so far."""
    ticks = 0
    for pid in service.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(service: Service, quiet: float = 0.3, timeout: float = 30) -> None:
    """Wait until the service has used no CPU for ``quiet`` seconds: wrk leaves queued requests
    behind when it stops, and their draws must not land in the next measurement."""
    deadline = time.monotonic() + timeout
    before = cpu_seconds(service)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(service)
        if now == before:
            return
        before = now


def peak_rss_mib(service: Service) -> dict[str, float]:
    """Peak resident memory (VmHWM) of the largest process (master or worker), and their PSS summed."""
    peaks, pss = [], 0.0
    for pid in service.pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        peaks.append(_kib(status, "VmHWM:") / 1024)
        pss += _kib(rollup, "Pss:") / 1024
    return {
        "peak_rss": max(peaks, default=0.0),
        "master_peak_rss": peaks[0] if peaks else 0.0,
        "worker_peak_rss": max(peaks[1:], default=0.0),
        "tree_pss": pss,
    }


def _kib(text: str, field: str) -> float:
    for line in text.splitlines():
        if line.startswith(field):
            return float(line.split()[1])
    return 0.0
