"""The Redis connection every function shares: short timeouts, one quick retry."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

#: What a function answers 503 for: Redis cannot be reached or did not answer in time.
UNAVAILABLE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
#: A write Redis refused for memory (``maxmemory`` with ``noeviction``): 503 ``at_capacity``.
FULL_ERROR = redis.exceptions.OutOfMemoryError


def connect(url: str, timeout_seconds: float) -> redis.Redis:
    """A client for ``url`` (``redis://[:password@]host:port/db``); it connects on first use.

    One retry after a short pause lets a pooled connection that died with a Redis restart
    reconnect transparently; a Redis that stays down fails within about twice the timeout.
    """
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=timeout_seconds,
        socket_timeout=timeout_seconds,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=1),
        health_check_interval=30,
    )
