"""The Redis connection every function shares: short timeouts, one quick retry; a single Redis or a Cluster.

A URL whose scheme ends ``+cluster`` (``redis+cluster://host:port``, ``rediss+cluster://``) names a
Redis Cluster: one or more of its nodes (``redis+cluster://h1:6379,h2:6379``), from which redis-py's
cluster client learns the rest; name several, or a DNS name of them all, so that a client that
starts while one node is down still finds the cluster. Keys that one transaction touches share a
hash tag (``{...}``), so they live in one slot of one shard.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import cache
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

#: The URL schemes of a Redis Cluster; the rest of the URL is redis-py's.
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
#: What a function answers 503 for: Redis cannot be reached or did not answer in time, or a cluster
#: is failing over (its slots moving, a shard without a primary, a primary still demoting itself).
UNAVAILABLE_ERRORS = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.AskError,  # and MovedError, its subclass
    redis.exceptions.ReadOnlyError,
    # SlotNotCoveredError, and "no reachable node" while the client relearns the cluster's nodes
    redis.exceptions.RedisClusterException,
)
#: Whatever a Redis or a cluster client may raise: for a cache, each only costs a drawing.
ANY_ERROR = (redis.exceptions.RedisError, redis.exceptions.RedisClusterException)
#: A write Redis refused for memory (``maxmemory`` with ``noeviction``): 503 ``at_capacity``.
FULL_ERROR = redis.exceptions.OutOfMemoryError


class NotReplicated(redis.exceptions.ConnectionError):
    """A write reached its primary but not, in time, the replicas it has: not yet safe to acknowledge."""


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1)


class LazyCluster:
    """A RedisCluster made on first use: a function starts (and answers 503) while its cluster is down."""

    def __init__(self, url: str, **options: Any) -> None:
        """``url``: ``redis+cluster://[user:password@]host:port[,host:port...][/0]``."""
        #: The URL as given (the ``limits`` library's cluster storage takes the same form).
        self.url = url
        scheme, rest = url.split("://", 1)
        credentials, at, location = rest.rpartition("@")
        hosts, slash, path = location.partition("/")
        first, *others = hosts.split(",")
        #: redis-py's URL of the first node named, and the others.
        self.node_url = f"{scheme.split('+')[0]}://{credentials}{at}{first}{slash}{path}"
        self.startup_nodes = [_node(address) for address in others]
        self._options = options
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()

    @property
    def cluster(self) -> RedisCluster:
        with self._lock:
            if self._client is None:
                try:
                    self._client = RedisCluster.from_url(
                        self.node_url, startup_nodes=self.startup_nodes, **self._options
                    )
                except redis.exceptions.RedisClusterException as error:  # no node answered
                    raise redis.exceptions.ConnectionError(
                        f"no node of the cluster answered: {error}"
                    ) from None
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster, name)


def _node(address: str) -> ClusterNode:
    host, _, port = address.rpartition(":")
    return ClusterNode(host, int(port)) if host else ClusterNode(address, 6379)


def connect(url: str, timeout_seconds: float) -> redis.Redis:
    """A client for ``url`` (``redis://[:password@]host:port/db``, or ``redis+cluster://host:port``).

    It connects on first use. One retry after a short pause lets a pooled connection that died
    with a Redis restart reconnect transparently; a Redis that stays down fails within about
    twice the timeout. A cluster client also follows MOVED and ASK and learns a failover's new
    primaries by itself.
    """
    options: dict[str, Any] = {
        "socket_connect_timeout": timeout_seconds,
        "socket_timeout": timeout_seconds,
        "retry": _retry(),
        "health_check_interval": 30,
    }
    if is_cluster_url(url):
        return LazyCluster(url, **options)  # type: ignore[return-value]
    return redis.Redis.from_url(url, **options)


def cluster_of(client: Any) -> RedisCluster | None:
    """The cluster client behind ``client``; None for a single Redis."""
    if isinstance(client, LazyCluster):
        return client.cluster
    return client if isinstance(client, RedisCluster) else None


@contextmanager
def node_client(client: Any, key: str) -> Iterator[redis.Redis]:
    """A client of the primary that holds ``key`` (``client`` itself for a single Redis).

    Commands sent to it bypass the cluster client, which learns a failover only from its own
    commands' errors: when this node cannot be reached, the cluster's map of slots is read again,
    so that the next request finds the replica that took over.
    """
    cluster = cluster_of(client)
    if cluster is None:
        yield client
        return
    try:
        yield cluster.get_redis_connection(cluster.get_node_from_key(key))
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        with suppress(redis.exceptions.RedisError, redis.exceptions.RedisClusterException):
            cluster.nodes_manager.initialize()
        raise


@cache
def tag_for_slot(slot: int) -> str:
    """A short hash tag whose keys fall in ``slot`` (found by trying ``s0``, ``s1``, ...)."""
    number = 0
    while redis.cluster.key_slot(f"s{number}".encode()) != slot:
        number += 1
    return f"s{number}"


def shard_tag(client: Any, key: str) -> str:
    """A hash tag on the shard that holds ``key``: its first slot's; "" for a single Redis.

    The tag names a shard's own keys (its count of unfinished jobs): a failover keeps the slot,
    and so the tag, on the shard's new primary.
    """
    cluster = cluster_of(client)
    if cluster is None:
        return ""
    primary = cluster.get_node_from_key(key)
    slots = cluster.nodes_manager.slots_cache
    first = _first_slots.get(primary.name)
    owner = slots.get(first) if first is not None else None
    if not owner or owner[0].name != primary.name:  # not known yet, or the slots have moved
        first = min(slot for slot, nodes in slots.items() if nodes and nodes[0].name == primary.name)
        _first_slots[primary.name] = first
    return tag_for_slot(first)


#: Each primary's first slot, as last seen (looking it up walks all 16384 slots).
_first_slots: dict[str, int] = {}


def replicate(client: Any, key: str, ttl_seconds: int, timeout_seconds: float) -> None:
    """Return once what was written to ``key``'s primary is on every replica it has; else NotReplicated.

    WAIT covers the writes of the connection it is sent on, up to the primary's replication offset
    at the last of them; so renewing ``key``'s TTL (a write even on a full Redis, and ``key`` is the
    one just written) and WAIT on one connection cover every earlier write to that primary, whichever
    connection made it. A primary without replicas returns at once.
    """
    with node_client(client, key) as primary:
        replicas = int(primary.info("replication").get("connected_slaves", 0))
        if not replicas:
            return
        with primary.pipeline(transaction=False) as pipe:
            pipe.expire(key, ttl_seconds)
            pipe.execute_command("WAIT", replicas, max(1, int(timeout_seconds * 1000)))
            try:
                _, acknowledged = pipe.execute()
            except redis.exceptions.ResponseError as error:  # e.g. UNBLOCKED: a replica meanwhile
                raise NotReplicated(f"WAIT for the replicas failed: {error}") from None
    if acknowledged < replicas:
        raise NotReplicated(
            f"{acknowledged} of {replicas} replica(s) acknowledged within {timeout_seconds:g} s"
        )
