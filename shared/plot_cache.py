"""Rendered graphs cached in Redis, keyed by data-set version, route and normalised parameters."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis


class PlotCache:
    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    @staticmethod
    def digest(version: str, route: str, params: dict[str, Any]) -> str:
        """Equal for equal requests, whatever their parameter order or spelt-out defaults."""
        canonical = json.dumps([version, route, params], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def get(self, digest: str) -> bytes | None:
        return self.redis.get(f"tumorscope:graph:{digest}")

    def put(self, digest: str, body: bytes) -> None:
        self.redis.set(f"tumorscope:graph:{digest}", body, ex=self.ttl)
