"""`make dev`: starts redis-server and the four functions, loads the data set, and stops them all.

The devserver runs here as a terminal runs it: in a process group of its own, which Ctrl-C
(SIGINT) or a supervisor (SIGTERM) signals as a whole.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import psutil
import pytest
import requests
from redis.cluster import RedisCluster

from devtools import cluster as dev_cluster
from devtools.devserver import ROOT, StartError, free_port, port_is_free, start_process, stop, wait_for_port

# serial: each test runs a whole make dev against stop limits; several at once on two cores miss them.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.serial]

PORTS = ("SUBMIT_PORT", "STATUS_PORT", "RENDER_PORT", "GRAPH_PORT")
#: How long a stop may take before whatever is left of it counts as left behind.
STOP_LIMIT_SECONDS = 12


def dev_environment() -> dict[str, str]:
    ports = {name: str(free_port()) for name in PORTS}
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, **ports, "DEV_REDIS_PORT": str(free_port()), "PYTHONPATH": str(ROOT)}


class Dev:
    """``python -m devtools.devserver`` as a terminal starts it, with its output read line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = start_process(
            [sys.executable, "-m", "devtools.devserver"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)

    def line_starting(self, prefix: str, timeout: float = 60) -> str:
        """The first line of its output that starts with ``prefix``, once it is there."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.output if line.startswith(prefix)]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no line starting {prefix!r} within {timeout} s: {self.output}")

    def wait_until_listening(self, timeout: float = 60) -> None:
        """Until all four function ports accept a connection: what a user's first curl waits for."""
        try:
            for name in PORTS:  # fails at once if the devserver exits meanwhile
                wait_for_port(int(self.env[name]), self.process, timeout)
        except StartError as error:
            self.process.wait(timeout=10)  # its last lines read
            raise AssertionError(f"{error}: {''.join(self.output)}") from None

    def url(self, port_variable: str) -> str:
        return f"http://localhost:{self.env[port_variable]}"


def stop_group_and_wait(dev: Dev, signum: int, at_least: int = 9) -> None:
    """Signal the devserver's whole group, as Ctrl-C or a supervisor does; nothing may outlive it.

    ``at_least`` processes must be running first: by default redis-server and each function's
    arbiter and worker.
    """
    started = psutil.Process(dev.process.pid).children(recursive=True)
    assert len(started) >= at_least, started
    begun = time.monotonic()
    os.killpg(dev.process.pid, signum)
    assert dev.process.wait(timeout=STOP_LIMIT_SECONDS) == 0
    left = STOP_LIMIT_SECONDS - (time.monotonic() - begun)
    _gone, alive = psutil.wait_procs(started, timeout=max(0.1, left))
    assert alive == [], f"left behind by {signal.Signals(signum).name}: {alive}"


def test_ten_rounds_of_start_submit_stop_and_an_immediate_restart() -> None:
    env = dev_environment()
    for round_number in range(10):
        signum = (signal.SIGINT, signal.SIGTERM)[round_number % 2]
        dev = Dev(env)
        try:
            dev.wait_until_listening()
            submitted = requests.post(
                f"{dev.url('SUBMIT_PORT')}/submit", json={"radius_mean": 14.5}, timeout=30
            )
            assert submitted.status_code == 202, (round_number, submitted.text)
            job = submitted.json()
            assert job["status"] == "complete"  # K_SINK is render itself: the answer follows the render
            assert job["status_url"] == f"{dev.url('STATUS_PORT')}/status/{job['job_id']}"
            assert requests.get(job["status_url"], timeout=5).json()["status"] == "complete"
            dev.line_starting("ready in", 5)
        except BaseException:
            stop([dev.process])  # SIGTERM first: it stops its redis-server and functions (SIGKILL left them)
            raise
        stop_group_and_wait(dev, signum)


def test_dev_redis_cluster_3_runs_three_primaries_and_three_replicas_on_six_ports() -> None:
    """A cluster whose state is ok, jobs on every primary, and a stop that leaves nothing behind."""
    env = dev_environment()
    first = dev_cluster.free_ports(6, port_is_free)
    env |= {"DEV_REDIS_CLUSTER": "3", "DEV_REDIS_PORT": str(first), "RENDER_WARM_UP": "false"}
    dev = Dev(env)
    try:
        dev.line_starting("ready in", 90)
        assert f"ports {first}-{first + 5}" in dev.line_starting("redis ")
        cluster = RedisCluster(host="127.0.0.1", port=first + 3)
        info = cluster.cluster_info()
        assert (info["cluster_state"], info["cluster_size"], info["cluster_known_nodes"]) == ("ok", "3", "6")
        jobs = [
            requests.post(f"{dev.url('SUBMIT_PORT')}/submit", json={"radius_mean": 14.5}, timeout=30)
            for _ in range(12)
        ]
        assert [job.json()["status"] for job in jobs] == ["complete"] * 12
        for node in cluster.get_primaries():
            assert any(cluster.get_redis_connection(node).scan_iter("tumorscope:job:*"))
    except BaseException:
        dev.process.kill()
        raise
    stop_group_and_wait(dev, signal.SIGTERM, at_least=14)


def test_start_order_is_consumers_first_and_the_data_set_before_any_function() -> None:
    dev = Dev(dev_environment())
    try:
        ready = dev.line_starting("ready in")
    finally:
        stop_group_and_wait(dev, signal.SIGTERM)
    started = [m[1] for m in (re.match(r"(\w+) +(redis|http)://", line) for line in dev.output) if m]
    assert started == ["redis", "render", "graph", "status", "submit"]
    loaded = next(i for i, line in enumerate(dev.output) if line.startswith("data set 569 rows"))
    assert loaded < next(i for i, line in enumerate(dev.output) if line.startswith("render "))
    assert 0 < float(ready.split()[2]) < 60
    assert dev.output[-1].startswith("stopping (SIGTERM)")


def test_a_stop_while_starting_leaves_nothing_behind() -> None:
    dev = Dev(dev_environment())
    dev.line_starting("render")  # render is up; graph, status and submit are still to come
    stop_group_and_wait(dev, signal.SIGINT, at_least=4)
    assert "ready in" not in "".join(dev.output)


def test_a_taken_port_is_named_with_what_holds_it_instead_of_hanging() -> None:
    env = dev_environment()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["STATUS_PORT"])))
        taken.listen()
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "devtools.devserver"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 1
    assert f"status port {env['STATUS_PORT']} (held by " in result.stderr
    assert f"pid {os.getpid()})" in result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.parametrize(
    ("variable", "value"), [("JOB_TTL_SECONDS", "nan"), ("LOG_LEVEL", "loud"), ("GRAPH_PORT", "70000")]
)
def test_a_setting_it_cannot_use_stops_it_at_once_with_one_line(variable: str, value: str) -> None:
    env = {**dev_environment(), variable: value}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "devtools.devserver"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    assert result.stdout == ""
    assert result.stderr.startswith(f"make dev: {variable} must be ")
    assert repr(value) in result.stderr
    assert len(result.stderr.splitlines()) == 1  # no traceback
    assert port_is_free(int(env["DEV_REDIS_PORT"]))  # nothing was started


def test_a_port_left_in_time_wait_counts_as_free() -> None:
    port = free_port()
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        assert not port_is_free(port)  # a live listener
        accepted.close()  # the server side closes first, so its end waits in TIME_WAIT
        client.close()
    states = {c.status for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port}
    assert psutil.CONN_TIME_WAIT in states
    assert port_is_free(port)


def test_stop_kills_a_group_that_ignores_sigterm_and_the_orphans_its_leader_left(tmp_path) -> None:
    pids = tmp_path / "pids"
    leader = textwrap.dedent(f"""
        import os, signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
        open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
        time.sleep(600)
    """)
    process = start_process([sys.executable, "-c", leader])
    deadline = time.monotonic() + 10
    while not (pids.exists() and len(pids.read_text().split()) == 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    group = [psutil.Process(int(pid)) for pid in pids.read_text().split()]

    begun = time.monotonic()
    stop([process], grace=0.5)

    assert time.monotonic() - begun < 3
    _gone, alive = psutil.wait_procs(group, timeout=1)
    assert alive == []


def test_stop_ends_a_worker_whose_leader_already_exited(tmp_path) -> None:
    pid_file = tmp_path / "orphan"
    leader = (
        "import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(600)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))"
    )
    process = start_process([sys.executable, "-c", leader])
    process.wait(timeout=10)
    orphan = psutil.Process(int(pid_file.read_text()))
    assert os.getpgid(orphan.pid) == process.pid  # alive, in the group of a leader that is gone

    stop([process], grace=1)

    _gone, alive = psutil.wait_procs([orphan], timeout=1)
    assert alive == []


def test_with_log_format_json_every_line_is_json_and_a_job_is_followed_by_its_trace() -> None:
    """What a log pipeline needs from ``LOG_FORMAT=json make dev``, start and stop included."""
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    dev = Dev({**dev_environment(), "LOG_FORMAT": "json"})
    try:
        dev.wait_until_listening()
        job_id = requests.post(
            f"{dev.url('SUBMIT_PORT')}/submit",
            json={"radius_mean": 14.5},
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
            timeout=30,
        ).json()["job_id"]
        assert (
            requests.get(f"{dev.url('STATUS_PORT')}/status/{job_id}", timeout=5).json()["trace_id"]
            == trace_id
        )
    except BaseException:
        stop([dev.process])
        raise
    stop_group_and_wait(dev, signal.SIGTERM)

    lines = [json.loads(line) for line in dev.output]  # fails on any line that is not JSON
    assert all({"severity", "message", "service", "time"} <= line.keys() for line in lines)
    assert {line["service"] for line in lines} == {"devserver", "submit", "status", "render", "graph"}
    assert any(line["service"] == "devserver" and line["message"].startswith("ready in") for line in lines)
    for service in ("submit", "render"):
        about_the_job = [
            line for line in lines if line["service"] == service and line.get("job_id") == job_id
        ]
        assert about_the_job, service
        assert {line["trace_id"] for line in about_the_job} == {trace_id}
        assert any("duration_ms" in line for line in about_the_job), service


def test_ready_waits_until_render_has_drawn_its_backgrounds() -> None:
    dev = Dev({**dev_environment(), "RENDER_WARM_UP": "true"})
    try:
        dev.line_starting("ready in")
        lines = "".join(dev.output)
    finally:
        stop_group_and_wait(dev, signal.SIGTERM)
    assert "render   drawing its panel backgrounds" in lines
    warmed = lines.index("panel backgrounds drawn ahead of the jobs")  # render's own line, passed on
    assert lines.index("drawing its panel backgrounds") < warmed < lines.index("ready in")
