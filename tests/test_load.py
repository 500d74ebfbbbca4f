"""Bounded loopback load: many submits at once, a Broker delivering to render, every accepted job completes.

LOAD_JOBS submits (default 100; ``make load`` sends 1,000) at LOAD_CONCURRENCY (default 32)
go to submit from four clients (127.0.0.2 to 127.0.0.5), each sending its quarter, which is
its SUBMIT_RATE_LIMIT, and the last a few more, which are refused (429) and no one else's
loss. submit's K_SINK is a stand-in Broker that accepts each event. Once every submit is
answered, the Broker delivers the backlog to two render processes, retrying on 409, 5xx and
network errors as a Trigger does, while the test polls status until every accepted job is
complete. It prints the figures: submits/s, then jobs rendered/s, and each client's outcomes.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests
from helpers import client_at
from reliability import Broker, PrivateRedis, descendants, samples

from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOBS = int(os.environ.get("LOAD_JOBS", "100"))
CONCURRENCY = int(os.environ.get("LOAD_CONCURRENCY", "32"))
#: How long the whole test may take: generous, since two cores may be shared with other work.
BOUND_SECONDS = 120 + 2 * JOBS
#: The clients the submits come from, each with its own address; each may submit its share of JOBS.
CLIENTS = [f"127.0.0.{n}" for n in range(2, 6)]
PER_CLIENT = math.ceil(JOBS / len(CLIENTS))
#: What the last client sends beyond its limit.
OVER_LIMIT = 5


@pytest.fixture
def stack(function_processes, tmp_path: Path) -> Iterator[tuple[dict[str, str], Broker, PrivateRedis, list]]:
    redis_server = PrivateRedis(tmp_path / "redis")
    load_file(redis_server.client(), BUNDLED_DATASET)
    environ = {"REDIS_URL": redis_server.url}
    render_environ = {**environ, "THREADS": "2", "RENDER_WARM_UP": "true"}  # as deployed
    renders = [function_processes.start("render", render_environ) for _ in range(2)]
    render_processes = function_processes.processes[-2:]
    broker = Broker(renders)
    urls = {"status": function_processes.start("status", {**environ, "THREADS": "8"})}
    urls["submit"] = function_processes.start(
        "submit",
        {
            **environ,
            "K_SINK": broker.url,
            "STATUS_BASE_URL": urls["status"],
            "THREADS": "8",
            "SUBMIT_RATE_LIMIT": f"{PER_CLIENT}/hour",
        },
    )
    yield urls, broker, redis_server, render_processes
    broker.close()
    redis_server.stop()


@pytest.mark.timeout(BOUND_SECONDS + 120)
def test_every_accepted_job_completes_under_load(stack) -> None:
    urls, broker, redis_server, renders = stack
    local = threading.local()
    senders = [CLIENTS[n % len(CLIENTS)] for n in range(JOBS)] + [CLIENTS[-1]] * OVER_LIMIT

    def submit(request: tuple[str, dict[str, float]]) -> tuple[str, requests.Response]:
        client, sample = request
        sessions = local.__dict__.setdefault("sessions", {})
        if client not in sessions:
            sessions[client] = client_at(client)
        return client, sessions[client].post(f"{urls['submit']}/submit", json=sample, timeout=60)

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        outcomes = list(pool.map(submit, zip(senders, samples(len(senders)), strict=True)))
    submitted = time.perf_counter()
    broker.released.set()  # the Broker now delivers the backlog

    per_client = {client: Counter() for client in CLIENTS}
    for client, answer in outcomes:
        per_client[client][answer.status_code] += 1
    answers = [answer for _, answer in outcomes if answer.status_code == 202]
    statuses = Counter(answer.status_code for _, answer in outcomes)
    assert set(statuses) <= {202, 429}, statuses  # no 5xx; only what was over a limit refused
    for client, counts in per_client.items():  # each client gets exactly its limit, whatever the others do
        sent = senders.count(client)
        assert counts == Counter({202: min(sent, PER_CLIENT), 429: max(0, sent - PER_CLIENT)}), per_client
    accepted = {answer.json()["job_id"] for answer in answers}
    assert len(accepted) == len(answers) >= JOBS - OVER_LIMIT

    pending = [answer.json()["job_id"] for answer in answers]  # polled oldest first, as delivered
    deadline = time.monotonic() + BOUND_SECONDS
    with requests.Session() as session:
        while pending and time.monotonic() < deadline:
            still_running = 0
            for job_id in list(pending):
                answer = session.get(f"{urls['status']}/status/{job_id}", timeout=30)
                assert answer.status_code == 200, answer.text[:200]
                assert answer.json()["status"] in ("queued", "in-progress", "complete"), answer.text[:300]
                if answer.json()["status"] == "complete":
                    pending.remove(job_id)
                else:
                    still_running += 1
                    if still_running == 8:  # the rest are further back in the Broker's queue
                        break
            time.sleep(0.5)
    finished = time.perf_counter()

    assert not pending, f"{len(pending)} of {len(accepted)} accepted jobs did not complete"
    pictures = sum(1 for _ in redis_server.client().scan_iter("tumorscope:job:*:png", count=1000))
    summaries = sum(1 for _ in redis_server.client().scan_iter("tumorscope:job:*:summary", count=1000))
    assert pictures == summaries == len(accepted)
    assert broker.acknowledged == len(accepted)
    workers = [psutil.Process(pid) for render in renders for pid in descendants(render.pid)]
    rss = ", ".join(f"{worker.memory_info().rss / 2**20:.0f}" for worker in workers)
    print(
        f"\nload: {len(senders)} submits from {len(CLIENTS)} clients at concurrency {CONCURRENCY}: "
        f"{statuses[202]} accepted (202), {statuses[429]} over their client's limit (429), no 5xx, "
        f"in {submitted - started:.1f} s = {len(senders) / (submitted - started):.0f} submits/s; "
        f"the backlog rendered in {finished - submitted:.1f} s = "
        f"{len(accepted) / (finished - submitted):.1f} jobs/s "
        f"(2 render processes); {len(accepted) - len(pending)} complete, {pictures} results; "
        f"render retries by status {dict(broker.retries)}; render workers' RSS after them {rss} MiB"
    )
    print(
        "load: per client "
        + "; ".join(f"{client}: {dict(sorted(counts.items()))}" for client, counts in per_client.items())
    )
