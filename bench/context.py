"""What every phase of the benchmark shares: its own Redis, where logs go, how many rounds."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

import redis

from bench.services import SOURCES, Service, start_warm

SAMPLE = b'{"radius_mean": 14.5, "texture_mean": 20.0, "perimeter_mean": 95.0}'
JSON = (("Content-Type", "application/json"),)
#: The benchmark is one client measuring throughput: no per-client limit may turn it away.
UNLIMITED = {
    "SUBMIT_RATE_LIMIT": "1000000/minute",
    "DRAW_RATE_LIMIT": "1000000/minute",
    "CLIENT_STORE_SHARE": "1",
}


@dataclass
class Context:
    redis_url: str
    redis_port: int
    work: Path
    rounds: int
    client: redis.Redis
    services: list[Service] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.work / "logs"

    def environ(self, **extra: str) -> dict[str, str]:
        return {"REDIS_URL": self.redis_url, "MPLBACKEND": "Agg", **UNLIMITED, **extra}

    def warm(self, name: str, **extra: str) -> Service:
        """Start ``name`` once for the warm figures; it is stopped when the benchmark ends."""
        service = start_warm(SOURCES[name], self.environ(**extra), self.logs)
        self.services.append(service)
        return service

    def forget_plots(self) -> None:
        """Empty the graph cache, so that the next plot is drawn."""
        keys = list(self.client.scan_iter("tumorscope:graph:*", count=1000))
        if keys:
            self.client.delete(*keys)


def unknown_job_id() -> str:
    return secrets.token_hex(16)
