"""Bounded memory: a full store is backpressure (503 at_capacity), a full or missing cache costs time.

Each test runs its own redis-servers capped with ``maxmemory``: the store with ``noeviction``,
as production runs it, the cache with ``allkeys-lru`` or, to be full for good, ``noeviction``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import requests
from cloudevents.http import from_http
from helpers import error_of
from reliability import PrivateRedis, deliver, deliver_until_acknowledged, job_status

from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.store.jobs import STORE_FILL_LIMIT, UNFINISHED, JobStore

pytestmark = pytest.mark.integration

SAMPLE = {"radius_mean": 14.5, "texture_mean": 20.0}


def fill(client: redis.Redis) -> None:
    """Write filler keys, smaller and smaller, until Redis refuses even a small write for memory.

    Then halve ``maxmemory``, so that the store is well past full: a refused write leaves it just
    over the line, and any byte freed later (an expired rate-limit counter, a client's buffer)
    would let the next write of any size in.
    """
    for size in (64 * 1024, 4096, 256):
        for index in range(20_000):
            try:
                client.set(f"filler:{size}:{index}", b"x" * size)
            except redis.exceptions.OutOfMemoryError:
                break
        else:
            raise AssertionError("Redis never refused a write: is maxmemory set?")
    client.config_set("maxmemory", memory(client)[0] // 2)


def drain(client: redis.Redis) -> None:
    client.delete(*client.keys("filler:*"))


def stored(client: redis.Redis) -> list[bytes]:
    """Every key but the rate limits' counters, which a nearly full store may still take."""
    return sorted(key for key in client.keys("*") if not key.startswith(b"tumorscope:ratelimit:"))


def memory(client: redis.Redis) -> tuple[int, int]:
    info = client.info("memory")
    return info["used_memory"], info["maxmemory"]


def submit(url: str, **headers: str) -> requests.Response:
    return requests.post(f"{url}/submit", json=SAMPLE, headers=headers, timeout=30)


def assert_at_capacity(response: requests.Response) -> None:
    assert response.status_code == 503, response.text[:300]
    assert int(response.headers["Retry-After"]) > 0
    assert error_of(response)["code"] == "at_capacity"


@pytest.fixture
def store(tmp_path: Path) -> PrivateRedis:
    server = PrivateRedis.capped(tmp_path / "store", 8)
    load_file(server.client(), BUNDLED_DATASET)
    yield server
    server.stop()


def start(function_processes, name: str, store: PrivateRedis, **environ: str) -> str:
    return function_processes.start(
        name, {"REDIS_URL": store.url, "REDIS_TIMEOUT_SECONDS": "1", "THREADS": "4", **environ}
    )


def test_a_full_store_answers_503_at_capacity_keeps_what_it_holds_and_recovers(
    function_processes, store
) -> None:
    """``make dev``'s wiring: render is submit's sink, and the store is the cache too."""
    render = start(function_processes, "render", store)
    status = start(function_processes, "status", store)
    submit_url = start(function_processes, "submit", store, K_SINK=render, STATUS_BASE_URL=status)
    graph = start(function_processes, "graph", store)
    client = store.client()
    first = submit(submit_url).json()
    assert first["status"] == "complete"

    fill(client)
    before = stored(client)
    for response in (submit(submit_url), submit(submit_url, **{"Idempotency-Key": "retry-me"})):
        assert_at_capacity(response)
    assert stored(client) == before  # nothing half-written: no job, no key, no lock

    assert job_status(status, first["job_id"])["status"] == "complete"  # reading goes on
    assert requests.get(first["result_url"], timeout=10).headers["Content-Type"] == "image/png"
    for _ in range(2):  # drawn each time: a full store cannot cache it, and that is no error
        plot = requests.get(f"{graph}/graph/histogram?feature=area_se&bins=17", timeout=30)
        assert plot.status_code == 200
        assert plot.headers["X-Cache"] == "miss"
    assert stored(client) == before

    drain(client)
    again = submit(submit_url)  # the same processes, once there is room again
    assert again.status_code == 202
    assert again.json()["status"] == "complete"


def test_every_job_admitted_fits_its_result_however_far_submits_outrun_render(
    function_processes, store, event_sink
) -> None:
    """Jobs queue behind a Broker that delivers nothing until the store refuses more of them."""
    status = start(function_processes, "status", store)
    submit_url = start(function_processes, "submit", store, K_SINK=event_sink.url, STATUS_BASE_URL=status)
    client = store.client()
    accepted = []
    while len(accepted) < 1000:
        response = submit(submit_url)
        if response.status_code == 503:
            assert_at_capacity(response)
            break
        assert response.status_code == 202
        accepted.append(response.json()["job_id"])
    assert 20 < len(accepted) < 1000
    assert client.zcard(UNFINISHED) == len(accepted)

    render = start(function_processes, "render", store)
    for delivery in event_sink.received:  # now the Broker delivers the whole backlog
        assert deliver(render, from_http(delivery.headers, delivery.body)).status_code == 200
    assert {job_status(status, job_id)["status"] for job_id in accepted} == {"complete"}
    used, maxmemory = memory(client)
    assert used <= maxmemory * STORE_FILL_LIMIT
    assert client.zcard(UNFINISHED) == 0


def test_render_that_cannot_store_a_result_answers_503_and_the_broker_retry_completes_it(
    function_processes, store, event_sink
) -> None:
    status = start(function_processes, "status", store)
    submit_url = start(function_processes, "submit", store, K_SINK=event_sink.url, STATUS_BASE_URL=status)
    render = start(function_processes, "render", store)
    job_id = submit(submit_url).json()["job_id"]
    [delivery] = event_sink.received
    event = from_http(delivery.headers, delivery.body)
    client = store.client()

    fill(client)
    refused = deliver(render, event)
    assert refused.status_code == 503  # Knative retries a 5xx, with backoff
    assert error_of(refused)["code"] == "at_capacity"
    assert job_status(status, job_id)["status"] == "queued"
    assert client.keys(JobStore.key(job_id, "*")) == []  # no half a result, no lock left

    drain(client)
    assert deliver_until_acknowledged(render, event)[-1] == 200
    assert job_status(status, job_id)["status"] == "complete"


@pytest.fixture
def cache(tmp_path: Path) -> PrivateRedis:
    server = PrivateRedis.capped(tmp_path / "cache", 2, "allkeys-lru")
    yield server
    server.stop()


def test_a_plot_cache_that_is_down_hung_or_full_costs_only_a_drawing(
    function_processes, store, cache
) -> None:
    graph = start(function_processes, "graph", store, CACHE_REDIS_URL=cache.url, REDIS_TIMEOUT_SECONDS="0.5")
    path = "/graph/histogram?feature=radius_worst&bins=9"

    def get(route: str = path) -> requests.Response:
        response = requests.get(graph + route, timeout=30)
        assert response.status_code == 200, response.text[:300]
        return response

    assert get().headers["X-Cache"] == "miss"
    assert get().headers["X-Cache"] == "hit"
    assert cache.client().keys("tumorscope:graph:*") != []
    assert store.client().keys("tumorscope:graph:*") == []  # plots never take the store's memory

    cache.stop()
    down = [get(), get(f"{path}&format=json"), get("/features")]
    assert [r.headers["X-Cache"] for r in down] == ["miss"] * 3
    assert down[1].json()["bins"] == 9

    cache.start()  # empty again: the cache keeps nothing on disk
    assert get().headers["X-Cache"] == "miss"
    with cache.frozen():
        begun = time.monotonic()
        assert get().headers["X-Cache"] == "miss"
        assert time.monotonic() - begun < 10
    assert get().headers["X-Cache"] == "hit"

    full = cache.client()  # held open: closing it would free its buffers, and so room
    full.config_set("maxmemory-policy", "noeviction")
    fill(full)
    fresh = "/graph/histogram?feature=area_worst&bins=3"
    assert [get(fresh).headers["X-Cache"] for _ in range(2)] == ["miss", "miss"]


def test_an_evicting_cache_stays_under_its_maxmemory_and_redraws_what_it_evicted(
    function_processes, store, cache
) -> None:
    graph = start(function_processes, "graph", store, CACHE_REDIS_URL=cache.url)
    big = f"{graph}/graph/histogram?feature=area_mean&width=2400&height=2400&dpi=300&bins="
    sizes = []
    for bins in range(2, 42):  # distinct plots of ~90 KB, far more than the cache's 2 MB in all
        response = requests.get(f"{big}{bins}", timeout=60)
        assert response.status_code == 200
        assert response.headers["X-Cache"] == "miss"
        sizes.append(len(response.content))
        used, maxmemory = memory(cache.client())
        assert used <= maxmemory
    assert sum(sizes) > 1.5 * 2 * 1024 * 1024
    assert cache.client().info("stats")["evicted_keys"] > 0
    again = requests.get(f"{big}2", timeout=60)  # the first, least recently used, is gone
    assert again.status_code == 200
    assert again.headers["X-Cache"] == "miss"
