"""Per-client rate limits with the ``limits`` library on a real Redis (and a real Redis Cluster)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devtools.devserver import free_port, start_redis, stop
from shared.errors import ApiError
from shared.web.ratelimit import RateLimit, storage_for

pytestmark = pytest.mark.integration  # redis-servers of its own, a cluster among them


def test_a_client_gets_its_quota_then_429_with_retry_after_and_ratelimit_headers(redis_db) -> None:
    submits = RateLimit("submit", "3/minute", storage_for(redis_db), "submits")

    answered = [submits.check("127.0.0.2") for _ in range(3)]
    with pytest.raises(ApiError) as refused:
        submits.check("127.0.0.2")

    assert [headers["RateLimit"].split(";")[1] for headers in answered] == ["r=2", "r=1", "r=0"]
    assert answered[0]["RateLimit-Policy"] == '"submit";q=3;w=60'
    error = refused.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert 55 <= int(error.headers["Retry-After"]) <= 60
    assert error.headers["RateLimit"] == f'"submit";r=0;t={error.headers["Retry-After"]}'
    assert error.details["retry_after"] == int(error.headers["Retry-After"])
    assert "try again in" in error.message
    assert submits.check("127.0.0.3")["RateLimit"].startswith('"submit";r=2;')  # another client's own


def test_the_window_moves_a_refused_client_is_let_in_once_its_oldest_request_is_a_window_old(
    redis_db,
) -> None:
    draws = RateLimit("draw", "2/second", storage_for(redis_db), "plots drawn")
    draws.check("198.51.100.7")
    draws.check("198.51.100.7")
    with pytest.raises(ApiError):
        draws.check("198.51.100.7")

    time.sleep(1.1)

    assert draws.check("198.51.100.7")["RateLimit"].startswith('"draw";r=1;')


def test_a_limiter_whose_redis_is_down_lets_the_request_through_and_says_so(caplog) -> None:
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5)
    submits = RateLimit("submit", "1/minute", storage_for(unreachable), "submits")

    with caplog.at_level(logging.WARNING, logger="tumorscope"):
        assert submits.check("127.0.0.2") == {}
        assert submits.check("127.0.0.2") == {}  # over the limit, had it been counted

    assert "rate limit submit: not counted, let through" in caplog.text


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[redis.RedisCluster]:
    """Three primaries of a real Redis Cluster, the 16,384 slots split between them."""
    ports = [free_port() for _ in range(3)]
    bus_ports = [free_port() for _ in range(3)]
    # The cluster bus defaults to port + 10000, beyond 65535 for a high free port: name one.
    processes = []
    try:
        for port, bus in zip(ports, bus_ports, strict=True):
            options = ("--cluster-enabled", "yes", "--cluster-port", str(bus))
            processes.append(start_redis(port, tmp_path / str(port), *options))
        nodes = [redis.Redis(port=port) for port in ports]
        for node, (first, last) in zip(nodes, [(0, 5460), (5461, 10922), (10923, 16383)], strict=True):
            node.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
        for node in nodes[1:]:
            node.execute_command("CLUSTER MEET", "127.0.0.1", ports[0], bus_ports[0])
        deadline = time.monotonic() + 20
        while any(node.cluster("info")["cluster_state"] != "ok" for node in nodes):
            assert time.monotonic() < deadline, "the cluster never came up"
            time.sleep(0.1)
        client = redis.RedisCluster(host="127.0.0.1", port=ports[0])
        yield client
        client.close()
    finally:
        stop(processes)


def test_the_limits_hold_on_a_redis_cluster(cluster) -> None:
    submits = RateLimit("submit", "2/minute", storage_for(cluster), "submits")
    clients = [f"198.51.100.{n}" for n in range(1, 9)]  # their counters spread over the shards

    for client in clients:
        submits.check(client)
        submits.check(client)
        with pytest.raises(ApiError, match="try again in"):
            submits.check(client)

    assert len(cluster.keys("tumorscope:ratelimit:*", target_nodes=redis.RedisCluster.ALL_NODES)) == 8
