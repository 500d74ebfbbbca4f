"""What the fault, redelivery and load tests share: a Redis they may kill, a Broker's delivery, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import requests
from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent

from shared.devserver import free_port, start_redis, stop

FINISHED = ("complete", "failed")


class PrivateRedis:
    """A redis-server of one test's own, which the test may stop, kill, freeze and start again."""

    def __init__(self, directory: Path, *options: str, password: str = "") -> None:
        self.port = free_port()
        self.directory = directory
        self.options = (*options, *(("--requirepass", password) if password else ()))
        self.password = password
        self.process: subprocess.Popen | None = None
        self.start()

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
