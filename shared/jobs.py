"""Jobs in Redis: one hash per job, its results beside it, all expiring after the job TTL."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from shared.errors import ApiError, bad_request

QUEUED, IN_PROGRESS, COMPLETE, FAILED = "queued", "in-progress", "complete", "failed"
FINISHED = (COMPLETE, FAILED)

_JOB_ID = re.compile(r"[0-9a-f]{32}")


def new_job_id() -> str:
    """128 random bits as 32 lowercase hex characters: unguessable, so the id is the access key."""
    return secrets.token_hex(16)


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise bad_request("invalid_job_id", "a job id is 32 lowercase hexadecimal characters")
    return job_id


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {job_id}: it never existed or has expired")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    features: dict[str, float]
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None

    @classmethod
    def from_hash(cls, job_id: str, fields: dict[bytes, bytes]) -> Job:
        def number(name: bytes) -> float | None:
            return float(fields[name]) if name in fields else None

        return cls(
            job_id=job_id,
            status=fields[b"status"].decode(),
            features=json.loads(fields[b"features"]),
            submitted_at=float(fields[b"submitted_at"]),
            started_at=number(b"started_at"),
            finished_at=number(b"finished_at"),
            error=fields[b"error"].decode() if b"error" in fields else None,
        )

    def status_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "submitted_at": _iso(self.submitted_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if self.error is not None:
            body["error"] = self.error
        return body


class JobStore:
    """Reads and changes jobs. Every change renews the job's TTL, so results outlive the job by none."""

    def __init__(self, client: redis.Redis, ttl_seconds: int) -> None:
        self.redis = client
        self.ttl = ttl_seconds

    @staticmethod
    def key(job_id: str, part: str = "") -> str:
        return f"tumorscope:job:{job_id}{':' + part if part else ''}"

    def create(self, features: dict[str, float]) -> Job:
        job = Job(new_job_id(), QUEUED, features, time.time())
        fields = {"status": job.status, "features": json.dumps(features), "submitted_at": job.submitted_at}
        with self.redis.pipeline() as pipe:
            pipe.hset(self.key(job.job_id), mapping=fields).expire(self.key(job.job_id), self.ttl)
            pipe.execute()
        return job

    def get(self, job_id: str) -> Job | None:
        fields = self.redis.hgetall(self.key(job_id))
        return Job.from_hash(job_id, fields) if fields else None

    def _update(self, job_id: str, fields: dict[str, Any], results: dict[str, bytes] | None = None) -> None:
        """Apply ``fields`` (and store ``results``) in one transaction, only if the job still exists."""
        key = self.key(job_id)

        def change(pipe: redis.client.Pipeline) -> None:
            if not pipe.exists(key):
                return
            pipe.multi()
            pipe.hset(key, mapping=fields).expire(key, self.ttl)
            for part, value in (results or {}).items():
                pipe.set(self.key(job_id, part), value, ex=self.ttl)

        self.redis.transaction(change, key)

    def mark_in_progress(self, job_id: str) -> None:
        self._update(job_id, {"status": IN_PROGRESS, "started_at": time.time()})

    def mark_complete(self, job_id: str, png: bytes, summary: dict[str, Any]) -> None:
        self._update(
            job_id,
            {"status": COMPLETE, "finished_at": time.time()},
            {"png": png, "summary": json.dumps(summary).encode()},
        )

    def mark_failed(self, job_id: str, reason: str) -> None:
        self._update(job_id, {"status": FAILED, "finished_at": time.time(), "error": reason})

    def result(self, job_id: str, part: str) -> bytes | None:
        """A finished job's ``png`` or ``summary`` (JSON bytes)."""
        return self.redis.get(self.key(job_id, part))

    def lock(self, job_id: str, seconds: float) -> redis.lock.Lock:
        """A short lock on the job, so that only one delivery of its event renders it."""
        return self.redis.lock(self.key(job_id, "lock"), timeout=seconds, blocking=False)
