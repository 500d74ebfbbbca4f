"""Soak: small, capped Redis servers under sustained submits and a flood of distinct plots.

For SOAK_SECONDS (default 30; ``make soak`` runs 300) SOAK_CONCURRENCY clients (default 16)
submit as fast as submit answers, far faster than the two renders behind a stand-in Broker can
drain, while two clients ask graph for plots it has never drawn. The store (SOAK_STORE_MB,
default 16, ``noeviction``) and the cache (SOAK_CACHE_MB, default 4, ``allkeys-lru``) are
watched four times a second. Pass: the store never over its ``maxmemory``, the cache never
over it by more than one plot (it evicts before each command), neither restarted;
submit answers only 202 or 503 + Retry-After (``at_capacity``); graph answers only 200; every
202 ends complete; the first jobs' results are still readable at the end. It prints the figures.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests
from reliability import Broker, PrivateRedis, job_status, samples

from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.dataset.features import FEATURES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECONDS = float(os.environ.get("SOAK_SECONDS", "30"))
CONCURRENCY = int(os.environ.get("SOAK_CONCURRENCY", "16"))
STORE_MB = int(os.environ.get("SOAK_STORE_MB", "16"))
CACHE_MB = int(os.environ.get("SOAK_CACHE_MB", "4"))
#: How long the backlog may take to drain once submits stop: a full store's worth of jobs.
DRAIN_SECONDS = 60 + 30 * STORE_MB
FIRST_JOBS = 10


@dataclass
class Watch:
    """The peak memory and the run id of one Redis, sampled until stopped."""

    client: redis.Redis
    maxmemory: int = 0
    peak: int = 0
    run_ids: set = field(default_factory=set)
    samples: int = 0

    def sample(self) -> None:
        info = self.client.info()
        self.maxmemory = info["maxmemory"]
        self.peak = max(self.peak, info["used_memory"])
        self.run_ids.add(info["run_id"])
        self.samples += 1


def with_session(work: Callable[[requests.Session], None]) -> Callable[[], None]:
    """``work`` bound to an HTTP session of its own (a client that keeps its connection)."""
    session = requests.Session()
    return lambda: work(session)


def repeat_until(stop: threading.Event, work: Callable[[], None]) -> None:
    while not stop.is_set():
        work()


@pytest.fixture
def soak_stack(function_processes, tmp_path: Path) -> Iterator[dict]:
    store = PrivateRedis(
        tmp_path / "store", "--maxmemory", f"{STORE_MB}mb", "--maxmemory-policy", "noeviction"
    )
    cache = PrivateRedis(
        tmp_path / "cache", "--maxmemory", f"{CACHE_MB}mb", "--maxmemory-policy", "allkeys-lru"
    )
    load_file(store.client(), BUNDLED_DATASET)
    environ = {"REDIS_URL": store.url, "CACHE_REDIS_URL": cache.url}
    renders = [function_processes.start("render", {**environ, "THREADS": "2"}) for _ in range(2)]
    broker = Broker(renders)
    broker.released.set()  # delivers all along, as a Trigger does
    status = function_processes.start("status", {**environ, "THREADS": "8"})
    submit = function_processes.start(
        "submit", {**environ, "K_SINK": broker.url, "STATUS_BASE_URL": status, "THREADS": "8"}
    )
    graph = function_processes.start("graph", {**environ, "THREADS": "4"})
    yield {
        "store": store,
        "cache": cache,
        "broker": broker,
        "status": status,
        "submit": submit,
        "graph": graph,
    }
    broker.close()
    store.stop()
    cache.stop()


@pytest.mark.timeout(SECONDS + DRAIN_SECONDS + 120)
def test_capped_redis_servers_hold_under_sustained_submits_and_a_flood_of_distinct_plots(soak_stack) -> None:
    stack = soak_stack
    watches = [Watch(stack["store"].client()), Watch(stack["cache"].client())]
    stop = threading.Event()
    accepted: list[str] = []
    submits: Counter = Counter()
    plots: Counter = Counter()
    bad: list[str] = []
    plot_sizes: list[int] = [0]
    sample_stream = itertools.cycle(samples(1000))
    plot_stream = itertools.cycle(
        f"/graph/histogram?feature={feature}&bins={bins}&width={width}"
        for width in (600, 900, 1200)
        for bins in range(5, 200, 3)
        for feature in FEATURES
    )
    lock = threading.Lock()

    def submit_once(session: requests.Session) -> None:
        answer = session.post(f"{stack['submit']}/submit", json=next(sample_stream), timeout=60)
        with lock:
            submits[answer.status_code] += 1
            if answer.status_code == 202:
                accepted.append(answer.json()["job_id"])
            elif not (
                answer.status_code == 503
                and answer.headers.get("Retry-After")
                and answer.json()["error"]["code"] == "at_capacity"
            ):
                bad.append(f"submit {answer.status_code}: {answer.text[:200]}")

    def plot_once(session: requests.Session) -> None:
        with lock:
            route = next(plot_stream)
        answer = session.get(stack["graph"] + route, timeout=60)
        with lock:
            plots[answer.headers.get("X-Cache", str(answer.status_code))] += 1
            plot_sizes.append(len(answer.content))
            if answer.status_code != 200:
                bad.append(f"graph {answer.status_code}: {answer.text[:200]}")

    def watch_once() -> None:
        for watch in watches:
            watch.sample()
        time.sleep(0.25)

    workers = [with_session(submit_once) for _ in range(CONCURRENCY)]
    workers += [with_session(plot_once) for _ in range(2)]
    workers.append(watch_once)
    started = time.monotonic()
    with ThreadPoolExecutor(len(workers)) as pool:
        running = [pool.submit(repeat_until, stop, work) for work in workers]
        time.sleep(SECONDS)
        stop.set()
        for future in running:
            future.result()
    submitting = time.monotonic() - started

    assert bad == [], bad[:5]
    assert submits[503] > 0, f"the store never filled: {submits}"
    assert plots["miss"] > 0
    pending = list(accepted)
    deadline = time.monotonic() + DRAIN_SECONDS
    with requests.Session() as session:
        while pending and time.monotonic() < deadline:
            watch_once()
            status = job_status(stack["status"], pending[0])["status"]
            assert status in ("queued", "in-progress", "complete"), status
            if status == "complete":
                pending.pop(0)
                while (
                    pending
                    and session.get(f"{stack['status']}/status/{pending[0]}", timeout=30).json()["status"]
                    == "complete"
                ):
                    pending.pop(0)
    drained = time.monotonic() - started - submitting
    assert not pending, f"{len(pending)} of {len(accepted)} accepted jobs did not complete"
    for job_id in accepted[:FIRST_JOBS]:
        picture = requests.get(f"{stack['status']}/result/{job_id}", timeout=30)
        assert picture.status_code == 200
        assert picture.content.startswith(b"\x89PNG")
    evicted = stack["cache"].client().info("stats")["evicted_keys"]
    store, cache = watches
    print(
        f"\nsoak: {submitting:.0f} s at concurrency {CONCURRENCY}: {sum(submits.values())} submits, "
        f"{submits[202]} accepted (202), {submits[503]} at capacity (503), nothing else; "
        f"{sum(plots.values())} plots, all 200 ({dict(plots)}); backlog drained in {drained:.0f} s, "
        f"every accepted job complete. Store peak {store.peak / 2**20:.2f} of {STORE_MB} MiB, "
        f"cache peak {cache.peak / 2**20:.2f} of {CACHE_MB} MiB ({evicted} plots evicted), "
        f"{store.samples} samples each, no restart; render retries by status {dict(stack['broker'].retries)}"
    )
    assert store.peak <= store.maxmemory, "the store went over its maxmemory"
    # An evicting Redis evicts before each command, so the last write may leave it over by at most
    # its own size until the next one (Redis's documented behaviour): the largest plot at most.
    assert cache.peak <= cache.maxmemory + max(plot_sizes), "the cache went over its maxmemory"
    assert evicted > 0 or sum(plot_sizes) < cache.maxmemory
    for name, watch in (("store", store), ("cache", cache)):
        assert len(watch.run_ids) == 1, f"the {name} restarted"
