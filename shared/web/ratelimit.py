"""Per-client rate limits, counted in the store's Redis by the ``limits`` library, and their headers.

The strategy is ``limits``' moving window: at most N requests in any window of the period, never
the 2N that a fixed window lets through across its boundary, for a list of at most N timestamps a
client in Redis. The counters live in Redis, so a limit holds per client across every process and
pod of a service. When Redis cannot count (down, hung, full), the request is let through with a
WARNING line: the limiter guards capacity, and the store's own checks still answer 503.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import redis
from limits import parse
from limits.errors import StorageError
from limits.storage import RedisClusterStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from shared.errors import ApiError
from shared.store.redis_client import LazyCluster

log = logging.getLogger("tumorscope")

#: Where the counters are kept in the store.
KEY_PREFIX = "tumorscope:ratelimit"


@dataclass(frozen=True)
class Decision:
    """One request counted against a limit: whether it may go on, and what the client is told."""

    policy: str
    quota: int
    window_seconds: int
    remaining: int
    reset_seconds: int
    allowed: bool

    def headers(self) -> dict[str, str]:
        """The IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers); Retry-After when refused."""
        headers = {
            "RateLimit-Policy": f'"{self.policy}";q={self.quota};w={self.window_seconds}',
            "RateLimit": f'"{self.policy}";r={self.remaining};t={self.reset_seconds}',
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def storage_for(client: redis.Redis | redis.RedisCluster | LazyCluster) -> Callable[[], Storage]:
    """How to make the ``limits`` storage on an existing client's Redis, a Redis Cluster included.

    A cluster's storage connects when it is made, so it is made on the first request: a function
    starts while its cluster is down, as it does for its own Redis client.
    """
    if isinstance(client, LazyCluster):
        return lambda: RedisClusterStorage(client.url, key_prefix=KEY_PREFIX, wrap_exceptions=True)
    if isinstance(client, redis.RedisCluster):
        nodes = ",".join(f"{node.host}:{node.port}" for node in client.get_nodes())
        options = client.nodes_manager.connection_kwargs
        credentials = {name: options[name] for name in ("username", "password") if options.get(name)}
        return lambda: RedisClusterStorage(
            f"redis+cluster://{nodes}", key_prefix=KEY_PREFIX, wrap_exceptions=True, **credentials
        )
    storage = RedisStorage(
        "redis://", connection_pool=client.connection_pool, key_prefix=KEY_PREFIX, wrap_exceptions=True
    )
    return lambda: storage


class RateLimit:
    """``limit`` (``"60/minute"``) for each client, named ``policy`` in headers, errors and Redis keys."""

    def __init__(self, policy: str, limit: str, storage: Callable[[], Storage], what: str) -> None:
        self.policy = policy
        self.item = parse(limit)
        self.what = what
        self._storage = storage

    @cached_property
    def limiter(self) -> MovingWindowRateLimiter:
        """Made on the first request (a cluster's storage connects when it is made); made again on
        the next request if that failed."""
        return MovingWindowRateLimiter(self._storage())

    def hit(self, client: str) -> Decision | None:
        """Count one request of ``client``; None when Redis could not count it (and it goes on)."""
        try:
            allowed = self.limiter.hit(self.item, self.policy, client)
            reset_at, remaining = self.limiter.get_window_stats(self.item, self.policy, client)
        except StorageError as error:
            log.warning("rate limit %s: not counted, let through (%s)", self.policy, error.storage_error)
            return None
        except (redis.exceptions.RedisError, redis.exceptions.RedisClusterException) as error:
            log.warning("rate limit %s: no storage yet, let through (%s)", self.policy, error)
            return None
        return Decision(
            policy=self.policy,
            quota=self.item.amount,
            window_seconds=self.item.get_expiry(),
            remaining=max(0, remaining),
            reset_seconds=max(1, math.ceil(reset_at - time.time())),
            allowed=allowed,
        )

    def check(self, client: str) -> dict[str, str]:
        """Count one request: 429 ``rate_limited`` over the limit, else the headers to answer with."""
        decision = self.hit(client)
        if decision is None:
            return {}
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"too many {self.what} from your address: at most {self.item.amount} per "
                f"{self.item.get_expiry()} s; try again in {decision.reset_seconds} s",
                headers=decision.headers(),
                retry_after=decision.reset_seconds,
            )
        return decision.headers()
