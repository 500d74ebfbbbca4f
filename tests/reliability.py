"""What the fault, redelivery and load tests share: a Redis they may kill, a Broker's delivery, waiting."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import cycle
from pathlib import Path

import numpy as np
import redis
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from devtools.devserver import free_port, start_redis, stop
from shared.config import BUNDLED_DATASET
from shared.dataset.csv_file import read_dataset_csv
from shared.dataset.features import FEATURES

FINISHED = ("complete", "failed")
#: Deliveries the stand-in Broker makes at once.
DELIVERIES_AT_ONCE = 4


class PrivateRedis:
    """A redis-server of one test's own, which the test may stop, kill, freeze and start again."""

    def __init__(self, directory: Path, *options: str, password: str = "") -> None:
        self.port = free_port()
        self.directory = directory
        self.options = (*options, *(("--requirepass", password) if password else ()))
        self.password = password
        self.process: subprocess.Popen | None = None
        self.start()

    @classmethod
    def capped(cls, directory: Path, megabytes: int, policy: str = "noeviction") -> PrivateRedis:
        """One with ``maxmemory``: ``noeviction`` as the store runs, ``allkeys-lru`` as the cache does."""
        return cls(directory, "--maxmemory", f"{megabytes}mb", "--maxmemory-policy", policy)

    @property
    def url(self) -> str:
        credentials = f":{self.password}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password or None)

    def start(self) -> None:
        """Start (again) on the same port and directory, so an append-only file is read back."""
        self.process = start_redis(self.port, self.directory, *self.options)

    def stop(self) -> None:
        stop([self.process])

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save; what survives is what the append-only file holds."""
        self.process.kill()
        self.process.wait()

    @contextmanager
    def frozen(self) -> Iterator[None]:
        """SIGSTOP while inside: connections open, nothing answers (a hung Redis)."""
        os.kill(self.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(self.process.pid, signal.SIGCONT)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (gunicorn's workers under functions-framework's master)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children += [int(child) for child in (task / "children").read_text().split()]
    return [pid for child in children for pid in (child, *descendants(child))]


def kill_container(process: subprocess.Popen) -> None:
    """SIGKILL a function process and its workers at once, as when its container dies."""
    for pid in [process.pid, *descendants(process.pid)]:
        os.kill(pid, signal.SIGKILL)
    process.wait()


def deliver(render_url: str, event: CloudEvent) -> requests.Response:
    """POST the event to render in binary mode, as the Broker delivers it."""
    headers, body = to_binary(event)
    return requests.post(render_url, headers=headers, data=body, timeout=60)


def deliver_until_acknowledged(render_url: str, event: CloudEvent, timeout: float = 60) -> list[int]:
    """Deliver like the Broker with retries: again after a 409 or 5xx, until a 2xx; the statuses seen."""
    statuses: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses.append(deliver(render_url, event).status_code)
        if statuses[-1] < 300:
            return statuses
        assert statuses[-1] in (409, 503), f"render answered {statuses[-1]}: the Broker would give up"
        time.sleep(0.2)
    raise AssertionError(f"render did not acknowledge the event within {timeout} s: {statuses}")


def wait_for(condition: Callable[[], object], timeout: float = 30, what: str = "the condition") -> object:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


def job_status(status_url: str, job_id: str) -> dict:
    response = requests.get(f"{status_url}/status/{job_id}", timeout=10)
    assert response.status_code == 200, response.text[:300]
    return response.json()


def wait_until_finished(status_url: str, job_id: str, timeout: float = 60) -> dict:
    return wait_for(
        lambda: (body := job_status(status_url, job_id))["status"] in FINISHED and body,
        timeout,
        f"job {job_id} finishing",
    )


def log_lines(log_dir: Path, function_url: str, name: str) -> list[str]:
    """The log of the function process ``function_processes`` started at ``function_url``."""
    port = function_url.rsplit(":", 1)[1]
    return (log_dir / f"{name}-{port}.log").read_text().splitlines()


class Broker:
    """Accepts events with 202; once released, delivers each to render until acknowledged (2xx)."""

    def __init__(self, render_urls: list[str]) -> None:
        self.pending: queue.Queue = queue.Queue()
        #: Every request accepted, as (headers, body), in order of arrival.
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.released = threading.Event()
        self.acknowledged = 0
        self.retries = Counter()
        self._targets = cycle(render_urls)
        self._lock = threading.Lock()
        broker = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                broker.received.append((dict(self.headers), body))
                broker.pending.put((dict(self.headers), body))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._threads = [threading.Thread(target=self.server.serve_forever, daemon=True)]
        self._threads += [
            threading.Thread(target=self._deliver, daemon=True) for _ in range(DELIVERIES_AT_ONCE)
        ]
        for thread in self._threads:
            thread.start()

    def _deliver(self) -> None:
        self.released.wait()
        session = requests.Session()
        while (item := self.pending.get()) is not None:
            headers, body = item
            for attempt in range(50):
                with self._lock:
                    target = next(self._targets)
                try:
                    status = session.post(target, headers=headers, data=body, timeout=60).status_code
                except requests.RequestException:
                    status = 599
                if status < 300:
                    with self._lock:
                        self.acknowledged += 1
                    break
                self.retries[status] += 1
                time.sleep(min(2.0, 0.05 * 2**attempt))

    def close(self) -> None:
        self.released.set()
        for _ in range(DELIVERIES_AT_ONCE):
            self.pending.put(None)
        self.server.shutdown()
        self.server.server_close()


@cache
def _ranges() -> dict[str, tuple[float, float]]:
    columns = read_dataset_csv(BUNDLED_DATASET).columns
    return {f: (float(columns[f].min()), float(columns[f].max())) for f in FEATURES}


def samples(count: int) -> list[dict[str, float]]:
    """Varied samples of one to three features, each value within its feature's range in the data set."""
    rng = np.random.default_rng(2024)
    chosen = [rng.choice(len(FEATURES), size=rng.integers(1, 4), replace=False) for _ in range(count)]
    return [{FEATURES[i]: round(float(rng.uniform(*_ranges()[FEATURES[i]])), 5) for i in f} for f in chosen]
