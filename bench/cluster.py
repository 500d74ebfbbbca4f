"""One Redis node against a Redis Cluster of three shards (each with a replica, WAIT on every 202).

For each store: submit's throughput with a sink that acknowledges at once (submit and the store
alone), the pipeline's with render as the sink (submit, render, the store: jobs drawn a second),
and what a finished job takes in the store, from which jobs per GiB of ``maxmemory``. Both stores
run on this machine's cores beside the functions, so the cluster shows its cost (WAIT, a slot
lookup), not the throughput of three machines: a shard's capacity is what adds up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from bench.context import JSON, SAMPLE, Context
from bench.load import Connection
from bench.services import SOURCES, start_warm
from devtools import cluster as dev_cluster
from devtools.devserver import free_port, port_is_free, start_cluster, start_redis, stop
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.store.jobs import STORE_FILL_LIMIT, JobStore
from shared.store.redis_client import connect

STORES = ("one node", "three shards")
CLIENTS = 4
SECONDS = 6.0
GIB = 2**30


@contextmanager
def _store(kind: str, work: Path) -> Iterator[tuple[str, redis.Redis | RedisCluster]]:
    """The store's URL and a client of it, for as long as the block runs."""
    if kind == "one node":
        port = free_port()
        processes = [start_redis(port, work / "redis-one")]
        url, client = f"redis://127.0.0.1:{port}/0", redis.Redis(port=port)
    else:
        first = dev_cluster.free_ports(6, port_is_free)
        processes = start_cluster(first, 3, work / "redis-cluster")
        url = dev_cluster.cluster_url(first, 6)
        client = RedisCluster(host="127.0.0.1", port=first)
    try:
        load_file(connect(url, 30), BUNDLED_DATASET)
        yield url, client
    finally:
        stop(processes)


def _rate(port: int, seconds: float, accepted: list[str]) -> float:
    """202s a second from CLIENTS keep-alive clients submitting for ``seconds``."""
    stopping = time.monotonic() + seconds

    def client() -> None:
        connection = Connection(port)
        try:
            while time.monotonic() < stopping:
                code, body = connection.request("POST", "/submit", SAMPLE, dict(JSON))
                if code != 202:
                    raise RuntimeError(f"submit answered {code}: {body[:200]!r}")
                accepted.append(json.loads(body)["job_id"])
        finally:
            connection.close()

    began = time.monotonic()
    before = len(accepted)
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (len(accepted) - before) / (time.monotonic() - began)


def _bytes_per_job(client: redis.Redis | RedisCluster, job_ids: list[str]) -> float:
    """MEMORY USAGE of every key of the finished jobs (hash, picture, summary), a job."""
    parts = ("", "png", "summary")
    keys = [JobStore.key(job_id, part) for job_id in job_ids for part in parts]
    return sum(client.memory_usage(key, samples=0) or 0 for key in keys) / len(job_ids)


def _measure_store(ctx: Context, kind: str, figures: dict[str, list[float]], rounds: int) -> None:
    with _store(kind, ctx.work) as (url, client):
        environ = ctx.environ(REDIS_URL=url, RENDER_WARM_UP="false")
        services = [
            start_warm(SOURCES["hello"], {}, ctx.logs),
            start_warm(SOURCES["render"], environ, ctx.logs),
        ]
        try:
            submit = start_warm(SOURCES["submit"], {**environ, "K_SINK": services[0].url}, ctx.logs)
            pipeline = start_warm(SOURCES["submit"], {**environ, "K_SINK": services[1].url}, ctx.logs)
            services += [submit, pipeline]
            record: Callable[[str, float], None] = lambda name, value: figures.setdefault(  # noqa: E731
                f"{kind}: {name}", []
            ).append(value)
            for _ in range(rounds):
                record("submit jobs/s", _rate(submit.port, SECONDS, []))
                drawn: list[str] = []
                record("submit+render jobs/s", _rate(pipeline.port, SECONDS, drawn))
                per_job = _bytes_per_job(client, drawn[:50])
                record("store bytes per job", per_job)
                record("jobs per GiB", GIB * STORE_FILL_LIMIT / per_job)
        finally:
            stop([service.process for service in services])


def measure(ctx: Context) -> dict[str, list[float]]:
    """Per store and round: submit's and the pipeline's jobs a second, store bytes and jobs per GiB."""
    figures: dict[str, list[float]] = {}
    rounds = min(ctx.rounds, 3)
    for kind in STORES:
        _measure_store(ctx, kind, figures, rounds)
    return figures
