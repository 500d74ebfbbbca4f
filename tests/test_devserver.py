"""`make dev`: starts redis-server and the four functions, loads the data set, stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest
import requests

from shared.devserver import ROOT, free_port

pytestmark = pytest.mark.integration


def dev_environment() -> dict[str, str]:
    ports = {name: str(free_port()) for name in ("SUBMIT_PORT", "STATUS_PORT", "RENDER_PORT", "GRAPH_PORT")}
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, **ports, "DEV_REDIS_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}


def test_make_dev_runs_the_whole_journey_and_stops_everything_on_sigterm(tmp_path) -> None:
    env = dev_environment()
    dev = subprocess.Popen(
        [sys.executable, "-m", "shared.devserver"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = []
        for line in dev.stdout:
            lines.append(line)
            if line.startswith("ready in"):
                break
        assert any(line.startswith("data set 569 rows") for line in lines), lines
        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 5  # redis-server and four functions

        job = requests.post(
            f"http://localhost:{env['SUBMIT_PORT']}/submit", json={"radius_mean": 14.5}, timeout=30
        ).json()
        assert job["status_url"] == f"http://localhost:{env['STATUS_PORT']}/status/{job['job_id']}"
        assert requests.get(job["status_url"], timeout=5).json()["status"] == "complete"
    finally:
        dev.send_signal(signal.SIGTERM)
        assert dev.wait(timeout=30) == 0
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []


def test_a_taken_port_is_named_instead_of_hanging() -> None:
    env = dev_environment()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["STATUS_PORT"])))
        taken.listen()
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "shared.devserver"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"status port {env['STATUS_PORT']}" in result.stderr
    assert time.monotonic() - started < 30
