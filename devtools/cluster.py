"""A Redis Cluster on this machine, from the one redis-server binary: primaries, one replica each.

``DEV_REDIS_CLUSTER=3 make dev`` and the tests start one with ``devserver.start_cluster``. It is made
with plain CLUSTER commands (ADDSLOTSRANGE, MEET, REPLICATE), so no redis-cli is needed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import redis

SLOTS = 16384
#: A node also listens on its port + 10000: the cluster bus, where the nodes talk to each other.
BUS_OFFSET = 10000
#: How long a primary may be silent before its replica takes over (cluster-node-timeout).
NODE_TIMEOUT_MS = 2000
#: How long the cluster may take to agree on its slots, and its replicas to sync.
READY_SECONDS = 60.0


def node_options(port: int, node_timeout_ms: int) -> list[str]:
    """redis-server's options for a cluster node: a replica always stands in, and the other shards
    keep answering while one has no primary."""
    return [
        "--cluster-enabled", "yes",
        "--cluster-config-file", f"nodes-{port}.conf",
        "--cluster-node-timeout", str(node_timeout_ms),
        "--cluster-require-full-coverage", "no",
        "--cluster-replica-validity-factor", "0",
    ]  # fmt: skip


def slot_ranges(primaries: int) -> list[tuple[int, int]]:
    """Each primary's share of the 16384 slots, as (first, last)."""
    bounds = [SLOTS * i // primaries for i in range(primaries + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(primaries)]


class ClusterNotReady(RuntimeError):
    """The nodes did not become one cluster in time."""


def _wait(what: str, ready: Callable[[], bool], seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise ClusterNotReady(f"the Redis Cluster did not {what} within {seconds:g} s")
        time.sleep(0.1)


def create_cluster(ports: list[int], primaries: int) -> None:
    """Make the nodes on ``ports`` one cluster: the first ``primaries`` share the slots, each of
    the rest replicates one of them. Returns once the cluster state is ok and every replica is in sync."""
    clients = [redis.Redis(port=port, socket_timeout=10) for port in ports]
    for client, (first, last) in zip(clients, slot_ranges(primaries), strict=False):
        client.execute_command("CLUSTER ADDSLOTSRANGE", first, last)
    for port in ports[1:]:
        clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
    _wait("meet", lambda: all(len(c.execute_command("CLUSTER NODES")) == len(ports) for c in clients))
    ids = [client.execute_command("CLUSTER MYID").decode() for client in clients]
    for index, replica in enumerate(clients[primaries:]):
        primary = ids[index % primaries]
        _wait("learn its primaries", lambda r=replica, p=primary: _knows(r, p))
        replica.execute_command("CLUSTER REPLICATE", primary)
    _wait(
        "become ok", lambda: all(c.execute_command("CLUSTER INFO")["cluster_state"] == "ok" for c in clients)
    )
    _wait(
        "sync its replicas",
        lambda: all(c.info("replication").get("master_link_status") == "up" for c in clients[primaries:]),
    )


def _knows(client: redis.Redis, node_id: str) -> bool:
    """Whether ``client``'s node knows ``node_id`` as a primary."""
    nodes = client.execute_command("CLUSTER NODES").values()
    return any(node["node_id"] == node_id and "master" in node["flags"] for node in nodes)


def free_ports(count: int, is_free: Callable[[int], bool]) -> int:
    """The first of ``count`` consecutive ports that are free, with their bus ports, by ``is_free``."""
    first = 20000 + os.getpid() % 20000
    while not all(is_free(port) and is_free(port + BUS_OFFSET) for port in range(first, first + count)):
        first = 20000 + (first + count - 20000) % 35000
    return first


def cluster_url(first_port: int, nodes: int) -> str:
    """The REDIS_URL of a cluster of ``nodes`` nodes on 127.0.0.1:``first_port`` and the ports after."""
    return "redis+cluster://" + ",".join(f"127.0.0.1:{first_port + index}" for index in range(nodes))
