"""Rendered graphs cached in Redis, keyed by data-set version, route and normalised parameters.

A new data-set version changes every key, and so does new drawing code (``GRAPH_CODE``: the
sources that decide what a graph looks like), so a deployment never serves pictures of the old code.
Identical cold requests render once: the first takes a
short Redis lock on the key and renders; the others wait for the lock and then read the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import redis

from shared.store.redis_client import ANY_ERROR

log = logging.getLogger("tumorscope")

PREFIX = "tumorscope:graph"
#: The sources that decide a graph's bytes (graph's drawing code and what it imports to draw).
SHARED = Path(__file__).resolve().parent.parent
GRAPH_CODE = (
    *(SHARED / "plotting" / f"{name}.py" for name in ("graphs", "plots")),
    *(SHARED / "dataset" / f"{name}.py" for name in ("analysis", "features", "filters")),
)
#: The sources (and the palette) that decide a job picture's bytes: every file of shared/picture/,
#: and what it imports to draw.
PICTURE_CODE = (
    *sorted((SHARED / "picture").glob("*.py")),
    SHARED / "picture" / "job-palette.txt",
    SHARED / "plotting" / "plots.py",
    *(SHARED / "dataset" / f"{name}.py" for name in ("analysis", "features")),
)
#: How long one render may hold its key's lock, and how long an identical request waits for it.
LOCK_SECONDS = 60
#: How long a browser may reuse a graph before it revalidates (a new data set changes the ETag).
BROWSER_MAX_AGE_SECONDS = 60
#: How often a waiting request polls the lock.
LOCK_POLL_SECONDS = 0.02


@cache
def code_digest(paths: tuple[Path, ...]) -> str:
    """A digest of the files at ``paths`` (read once)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def graph_code_version() -> str:
    """The digest of graph's drawing code: part of every graph's cache key."""
    return code_digest(GRAPH_CODE)


def picture_code_version() -> str:
    """The digest of the job picture's drawing code: part of every kept background's key."""
    return code_digest(PICTURE_CODE)


class PlotCache:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    @staticmethod
    def digest(version: str, route: str, params: dict[str, Any]) -> str:
        """Equal for equal requests, whatever their parameter order or spelt-out defaults."""
        canonical = json.dumps(
            [version, graph_code_version(), route, params], sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @staticmethod
    def etag(digest: str) -> str:
        """The entity tag of a cached body: the body depends only on what the digest covers."""
        return digest[:32]

    @staticmethod
    def key(digest: str, part: str = "") -> str:
        """A cached body, or its ``lock``: both in the digest's slot on a Redis Cluster."""
        return f"{PREFIX}:{{{digest}}}{':' + part if part else ''}"

    def get(self, digest: str) -> bytes | None:
        return self.redis.get(self.key(digest))

    def put(self, digest: str, body: bytes) -> None:
        """Cache ``body``; a cache that is full or down only means it is drawn again next time."""
        try:
            self.redis.set(self.key(digest), body, ex=self.ttl)
        except ANY_ERROR as error:
            log.warning("graph %s: not cached (%s)", digest, error)

    def get_or_render(self, digest: str, render: Callable[[], bytes]) -> tuple[bytes, bool]:
        """The cached body and True, or the body ``render`` made (once for concurrent callers) and False.

        The cache may lose any key, refuse a write or be down: each costs a drawing, never an error.
        """
        try:
            body = self.get(digest)
        except ANY_ERROR as error:  # down or hung: draw without it, and do not wait on it again
            log.warning("graph %s: the plot cache is unavailable (%s); drawing", digest, error)
            return render(), False
        if body is not None:
            return body, True
        lock = self.redis.lock(
            self.key(digest, "lock"),
            timeout=LOCK_SECONDS,
            sleep=LOCK_POLL_SECONDS,
            blocking_timeout=LOCK_SECONDS,
        )
        try:
            acquired = lock.acquire()
            body = self.get(digest)  # an identical request may have rendered it while we waited
        except ANY_ERROR as error:
            log.warning("graph %s: no lock from the plot cache (%s); drawing", digest, error)
            acquired, body = False, None
        try:
            if body is not None:
                return body, True
            if not acquired:
                log.warning("graph %s: rendering without its lock", digest)
            body = render()
            self.put(digest, body)
            return body, False
        finally:
            if acquired:
                try:
                    lock.release()
                except ANY_ERROR:
                    log.warning("graph %s: its lock expired while rendering", digest)
