"""Load generators: a Python keep-alive client for latency series, wrk for throughput."""

from __future__ import annotations

import http.client
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Target:
    """One request to measure: ``path(i)`` gives the i-th request's path (unique ones defeat caches)."""

    name: str
    port: int
    path: Callable[[int], str]
    expect: int = 200
    method: str = "GET"
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()


class Connection:
    """A keep-alive HTTP/1.1 connection that reconnects, as urllib3 does, when the server has
    closed an idle one (gunicorn closes keep-alive connections idle for 2 s)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def latency_series(target: Target, count: int, start: int = 0) -> list[float]:
    """``count`` requests one after another on one keep-alive connection: milliseconds each."""
    connection = Connection(target.port)
    headers = dict(target.headers)
    timings = []
    try:
        for i in range(start, start + count):
            began = time.perf_counter()
            status, _ = connection.request(target.method, target.path(i), target.body, headers)
            timings.append((time.perf_counter() - began) * 1000)
            if status != target.expect:
                raise RuntimeError(f"{target.name}: {status}, not {target.expect}")
    finally:
        connection.close()
    return timings


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("make bench needs wrk: apt-get install -y wrk (Debian's package)")
    return found


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    unexpected: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS[unit]


def wrk_script(target: Target, directory: Path) -> Path:
    """A Lua script that sends the target's method, body and headers, and a path per request."""
    paths = [target.path(i) for i in range(4000)]
    lines = [
        f'wrk.method = "{target.method}"',
        f"wrk.body = {_lua_string(target.body.decode()) if target.body else 'nil'}",
        *(f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in target.headers),
        "local paths = {" + ",".join(_lua_string(p) for p in paths) + "}",
        "local i = 0",
        "request = function()",
        "  i = i + 1",
        f"  return wrk.format(nil, paths[(i - 1) % {len(paths)} + 1])",
        "end",
    ]
    script = directory / f"{target.name.replace(' ', '-')}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk(target: Target, connections: int, seconds: float, script: Path) -> WrkResult:
    """wrk with one thread (the other core serves), ``connections`` open connections, ``seconds`` long."""
    command = [
        wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{target.port}",
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", output).group(1))
    # No distribution when no request finished in time (a drawn plot at c16 on a busy machine).
    percentiles = dict(re.findall(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+(?:us|ms|s|m))", output, re.MULTILINE))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    unexpected = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        p50_ms=_milliseconds(percentiles["50"]) if requests and "50" in percentiles else math.nan,
        p99_ms=_milliseconds(percentiles["99"]) if requests and "99" in percentiles else math.nan,
        requests=requests,
        errors=sum(int(n) for n in errors.groups()) if errors else 0,
        unexpected=int(unexpected.group(1)) if unexpected else 0,
    )


def redis_benchmark(port: int, connections: int, requests: int) -> float | None:
    """GETs per second from redis-benchmark, if it is installed (it comes with redis-server)."""
    binary = shutil.which("redis-benchmark")
    if not binary:
        return None
    command = [binary, "-p", str(port), "-c", str(connections), "-n", str(requests), "-t", "get", "--csv"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    match = re.search(r'"GET","([\d.]+)"', output)
    return float(match.group(1)) if match else None
