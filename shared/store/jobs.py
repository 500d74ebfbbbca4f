"""Jobs in Redis: one hash per job, its results beside it, all expiring after the job TTL."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis

from shared.errors import ApiError, at_capacity, bad_request
from shared.store import redis_client

QUEUED, IN_PROGRESS, COMPLETE, FAILED = "queued", "in-progress", "complete", "failed"
FINISHED = (COMPLETE, FAILED)
#: Why a job failed (``reason`` in its status): it outlived its deadline; it could not be drawn;
#: its event never reached the sink; the Broker gave up delivering it; anything else.
EXPIRED, RENDER_FAILED, SINK_FAILED, UNDELIVERABLE, ERROR = (
    "expired",
    "render_failed",
    "sink_unavailable",
    "undeliverable",
    "error",
)
#: The longest Idempotency-Key accepted.
MAX_IDEMPOTENCY_KEY = 255
#: Every unfinished job, scored by its deadline: the backlog whose results the store must still fit.
#: On a cluster, each shard counts its own jobs in ``tumorscope:unfinished:{<shard's tag>}``.
UNFINISHED = "tumorscope:unfinished"
#: What a finished job may take in the store, at most: a six-panel picture (~37 KiB), its summary,
#: its hash and keys, with Redis's overheads (`make bench` measures the average).
JOB_RESERVE_BYTES = 48 * 1024
#: The share of ``maxmemory`` that jobs may fill; the rest is for the data set, keys and buffers.
STORE_FILL_LIMIT = 0.95
#: How long a 202 or a ``complete`` waits for the job's replicas (where its shard has any): WAIT.
REPLICA_WAIT_SECONDS = 0.5
#: How long a request whose Idempotency-Key another request just claimed waits for that one's job.
CLAIM_WAIT_SECONDS = 2.0

#: How long a client's record of its live jobs outlives its newest one.
CLIENT_RECORD_GRACE_SECONDS = 60

#: One client's live jobs (KEYS[1]): drop those gone by ARGV[1] (now); with ARGV[2] (the most it may
#: keep, -1: no cap) reached, answer {live, when its oldest leaves}; else add job ARGV[3] leaving at
#: ARGV[4] and keep the record ARGV[5] seconds: {live, false}.
COUNT_AGAINST_SHARE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local live = redis.call('ZCARD', KEYS[1])
if tonumber(ARGV[2]) >= 0 and live >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {live, oldest[2]}
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {live, false}
"""

_JOB_ID = re.compile(r"[0-9a-f]{32}")


def new_job_id() -> str:
    """128 random bits as 32 lowercase hex characters: unguessable, so the id is the access key."""
    return secrets.token_hex(16)


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.fullmatch(job_id):
        raise bad_request("invalid_job_id", "a job id is 32 lowercase hexadecimal characters")
    return job_id


def job_key(job_id: str, part: str = "") -> str:
    """A job's hash, or one ``part`` of it (``png``, ``summary``, ``lock``): all in the job's slot."""
    return f"tumorscope:job:{{{job_id}}}{':' + part if part else ''}"


def idempotency_record_key(key: str) -> str:
    """Where an Idempotency-Key's job is kept (hashed: a client's key is not a Redis key)."""
    return f"tumorscope:idempotency:{{{hashlib.sha256(key.encode()).hexdigest()}}}"


def unfinished_key(shard_tag: str) -> str:
    """The unfinished jobs of the shard with ``shard_tag`` (of the one Redis for "")."""
    return f"{UNFINISHED}:{{{shard_tag}}}" if shard_tag else UNFINISHED


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {job_id}: it never existed or has expired")


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_idempotency_key(key: str) -> str:
    """An Idempotency-Key header: 1 to 255 printable ASCII characters."""
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not all(" " <= c <= "~" for c in key):
        raise bad_request(
            "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters",
        )
    return key


def fingerprint(features: dict[str, float]) -> str:
    """Equal for equal samples, whatever the order or spelling of their feature names."""
    return hashlib.sha256(json.dumps(features, sort_keys=True).encode()).hexdigest()


def expired_message(deadline_seconds: float) -> str:
    return f"the job did not finish within its deadline of {deadline_seconds:g} s"


def client_jobs_key(client: str) -> str:
    """One client's live jobs, each scored by when it leaves the store: what its share counts."""
    return f"tumorscope:client:{client}:jobs"


@dataclass(frozen=True)
class Owner:
    """The client a new job is counted against, and how many live jobs it may keep (None: no cap)."""

    client: str
    max_jobs: int | None = None


@dataclass(frozen=True)
class Admission:
    """What :meth:`JobStore.ensure_room` admits: the new job's id (on a cluster it names the shard
    whose room was checked), and the owner its share is counted against, if any."""

    job_id: str
    owner: Owner | None = None


def quota_exceeded(live: int, retry_after: int) -> ApiError:
    """429 for a client whose live jobs already take its share of the store."""
    return ApiError(
        429,
        "quota_exceeded",
        f"your address keeps {live} live jobs, its share of Tumorscope's job store; nothing was stored; "
        f"its oldest job leaves the store in {retry_after} s",
        headers={"Retry-After": str(retry_after)},
        retry_after=retry_after,
    )


@dataclass(frozen=True)
class Job:
    job_id: str
    status: str
    features: dict[str, float]
    submitted_at: float
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    reason: str | None = None
    deadline_at: float | None = None
    #: The W3C trace the job was submitted in: submit's and render's lines carry it too.
    trace_id: str | None = None

    @classmethod
    def from_hash(cls, job_id: str, fields: dict[bytes, bytes]) -> Job:
        def number(name: bytes) -> float | None:
            return float(fields[name]) if name in fields else None

        def text(name: bytes) -> str | None:
            return fields[name].decode() if name in fields else None

        status = fields[b"status"].decode()
        return cls(
            job_id=job_id,
            status=status,
            features=json.loads(fields[b"features"]),
            submitted_at=float(fields[b"submitted_at"]),
            started_at=number(b"started_at"),
            finished_at=number(b"finished_at"),
            error=text(b"error"),
            reason=text(b"reason") or (ERROR if status == FAILED else None),
            deadline_at=number(b"deadline_at"),
            trace_id=text(b"trace_id"),
        )

    def overdue(self, now: float) -> bool:
        """Still queued or in progress after its deadline: it will never finish by itself."""
        return self.status not in FINISHED and self.deadline_at is not None and now > self.deadline_at

    def as_of(self, now: float) -> Job:
        """The job as a client should see it at ``now``: failed with reason ``expired`` once overdue."""
        if not self.overdue(now):
            return self
        return replace(
            self,
            status=FAILED,
            finished_at=self.deadline_at,
            reason=EXPIRED,
            error=expired_message(self.deadline_at - self.submitted_at),
        )

    def status_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "submitted_at": _iso(self.submitted_at),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
        }
        if self.trace_id:
            body["trace_id"] = self.trace_id
        if self.status == FAILED:
            body["reason"] = self.reason
            body["error"] = self.error
        return body


class JobStore:
    """Reads and changes jobs. Every change renews the job's TTL, so results outlive the job by none.

    A finished job (complete or failed) never changes again, and a job past its deadline
    (``deadline_seconds`` after it was submitted) reads, and can only become, failed/expired.
    """

    def __init__(
        self,
        client: redis.Redis,
        ttl_seconds: int,
        deadline_seconds: float = 600,
        client_share: float = 1.0,
    ) -> None:
        self.redis = client
        self.ttl = ttl_seconds
        self.deadline = deadline_seconds
        #: The most of the store's room one client's live jobs may take (CLIENT_STORE_SHARE).
        self.client_share = client_share

    key = staticmethod(job_key)
    idempotency_key = staticmethod(idempotency_record_key)

    def _unfinished(self, job_id: str) -> str:
        """The count of unfinished jobs that ``job_id`` belongs in: its shard's."""
        return unfinished_key(redis_client.shard_tag(self.redis, self.key(job_id)))

    def _replicated(self, job_id: str) -> None:
        """Return once the job's writes are on its shard's replicas too (NotReplicated: a 503)."""
        redis_client.replicate(self.redis, self.key(job_id), self.ttl, REPLICA_WAIT_SECONDS)

    def _new(
        self, features: dict[str, float], trace_id: str | None, job_id: str | None = None
    ) -> tuple[Job, dict[str, Any]]:
        now = time.time()
        job_id = job_id or new_job_id()
        job = Job(job_id, QUEUED, features, now, deadline_at=now + self.deadline, trace_id=trace_id)
        fields = {
            "status": job.status,
            "features": json.dumps(features),
            "submitted_at": job.submitted_at,
            "deadline_at": job.deadline_at,
            **({"trace_id": trace_id} if trace_id else {}),
        }
        return job, fields

    def ensure_room(self, client: str | None = None) -> Admission:
        """A new job's id, or 503 ``at_capacity`` unless its store (on a cluster: its shard) fits it.

        Every unfinished job still has its picture to store, so a new job is admitted only while
        the memory in use plus ``JOB_RESERVE_BYTES`` for each unfinished job and the new one stays
        within ``STORE_FILL_LIMIT`` of ``maxmemory``: every accepted job can complete, however far
        submits outrun render. Jobs past their deadline no longer count. Pass the admission to
        :meth:`create` or :meth:`create_once`: on a cluster the room checked is that job's shard's.

        For a ``client``, the admission names the owner to count the job against: it may keep
        ``client_share`` of that room in live jobs, each counted at ``JOB_RESERVE_BYTES``, which is
        more than a job takes. A share of 1 counts nothing: the client may take the whole room,
        which the check above already bounds (as live jobs counted at ``JOB_RESERVE_BYTES`` it
        would be refused long before the store is full).
        """
        job_id = new_job_id()
        unfinished = self._unfinished(job_id)  # on the primary that will hold the job
        with (
            redis_client.node_client(self.redis, self.key(job_id)) as primary,
            primary.pipeline(transaction=False) as pipe,
        ):
            pipe.zremrangebyscore(unfinished, "-inf", time.time())
            pipe.zcard(unfinished)
            pipe.info("memory")
            _, backlog, memory = pipe.execute()
        limit = int(memory.get("maxmemory", 0)) * STORE_FILL_LIMIT
        if limit and memory["used_memory"] + (backlog + 1) * JOB_RESERVE_BYTES > limit:
            raise at_capacity()
        if client is None or self.client_share >= 1:
            return Admission(job_id)
        max_jobs = max(1, int(limit * self.client_share / JOB_RESERVE_BYTES)) if limit else None
        return Admission(job_id, Owner(client, max_jobs))

    def _count_against(self, owner: Owner | None, job: Job) -> None:
        """Add ``job`` to its owner's live jobs, or 429 once it keeps its share: one script on the
        owner's one key (its own slot on a cluster, routed and retried like any command), before
        the job itself is written."""
        if owner is None:
            return
        now = time.time()
        live, leaves_at = self.redis.eval(
            COUNT_AGAINST_SHARE,
            1,
            client_jobs_key(owner.client),
            now,
            -1 if owner.max_jobs is None else owner.max_jobs,
            job.job_id,
            job.deadline_at + self.ttl,  # a job finished by its deadline leaves a TTL after, at the latest
            math.ceil(self.deadline + self.ttl) + CLIENT_RECORD_GRACE_SECONDS,
        )
        if leaves_at:
            raise quota_exceeded(int(live), max(1, math.ceil(float(leaves_at) - now)))

    def _uncount(self, owner: Owner | None, job_id: str) -> None:
        if owner is not None:
            with contextlib.suppress(redis.exceptions.RedisError):
                self.redis.zrem(client_jobs_key(owner.client), job_id)

    def _add(self, job: Job, fields: dict[str, Any]) -> None:
        """Store the job in its slot, count it on its shard, and return once its replicas have it.

        The count (its shard's, in another slot) comes first: a count left without its job, by a
        failure in between, stops counting at its deadline.
        """
        self.redis.zadd(self._unfinished(job.job_id), {job.job_id: job.deadline_at})
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key(job.job_id), mapping=fields).expire(self.key(job.job_id), self.ttl)
            pipe.execute()
        self._replicated(job.job_id)

    def _add_owned(self, job: Job, fields: dict[str, Any], owner: Owner | None) -> None:
        """:meth:`_add`, counted against ``owner`` first (429 once it keeps its share)."""
        self._count_against(owner, job)
        try:
            self._add(job, fields)
        except redis.exceptions.RedisError:
            self._uncount(owner, job.job_id)
            raise

    def create(
        self,
        features: dict[str, float],
        trace_id: str | None = None,
        job_id: str | None = None,
        owner: Owner | None = None,
    ) -> Job:
        """A new queued job (``job_id`` and ``owner`` from :meth:`ensure_room`, else a new id and no
        owner); counted against ``owner``'s share (429 once it keeps its share)."""
        job, fields = self._new(features, trace_id, job_id)
        self._add_owned(job, fields, owner)
        return job

    def create_once(
        self,
        features: dict[str, float],
        idempotency_key: str,
        trace_id: str | None = None,
        job_id: str | None = None,
        owner: Owner | None = None,
    ) -> tuple[Job, bool]:
        """The job an earlier request with this key created (and False), or a new one (and True).

        The key is claimed (SET NX) before its job is written: of concurrent requests with one
        key, one makes the job and the others wait for it. The key and the job are in different
        slots, so a claim whose job never appears is given up after CLAIM_WAIT_SECONDS. The same
        key with a different sample is a 409.
        """
        where = self.idempotency_key(idempotency_key)
        job, fields = self._new(features, trace_id, job_id)
        record = json.dumps(
            {"job_id": job.job_id, "fingerprint": fingerprint(features), "at": job.submitted_at}
        )
        if self.redis.set(where, record, ex=self.ttl, nx=True):
            try:
                self._add_owned(job, fields, owner)
            except (redis.exceptions.RedisError, ApiError):  # no job: let a retry with the key make it
                with contextlib.suppress(redis.exceptions.RedisError):
                    self.redis.delete(where)
                raise
            return job, True
        earlier = self.redis.get(where)
        if earlier is None:  # expired or forgotten just now: claim it again
            return self.create_once(features, idempotency_key, trace_id, job_id, owner)
        claimed = json.loads(earlier)
        if claimed["fingerprint"] != fingerprint(features):
            raise ApiError(
                409,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different sample; use a new key for a new sample",
            )
        existing = self.get(claimed["job_id"])
        while existing is None and time.time() < claimed.get("at", 0) + CLAIM_WAIT_SECONDS:
            time.sleep(0.01)  # claimed a moment ago: its job is being written
            existing = self.get(claimed["job_id"])
        if existing is None:  # deleted behind our back: the key no longer stands for a job
            self.forget_idempotency_key(idempotency_key, claimed["job_id"])
            return self.create_once(features, idempotency_key, trace_id, job_id, owner)
        return existing, False

    def forget_idempotency_key(self, idempotency_key: str, job_id: str) -> None:
        """Let the key be used again, e.g. after its job failed before it was accepted."""
        where = self.idempotency_key(idempotency_key)
        claimed = self.redis.get(where)
        if claimed is not None and json.loads(claimed)["job_id"] == job_id:
            self.redis.delete(where)

    def get(self, job_id: str) -> Job | None:
        """The job as of now (an overdue one reads failed/expired), or None if unknown or expired."""
        fields = self.redis.hgetall(self.key(job_id))
        return Job.from_hash(job_id, fields).as_of(time.time()) if fields else None

    def _update(self, job_id: str, fields: dict[str, Any], results: dict[str, bytes] | None = None) -> bool:
        """Apply ``fields`` (and store ``results``) in one transaction, if the job exists and is unfinished.

        A job past its deadline is marked failed/expired instead. True if ``fields`` were applied.
        """
        key = self.key(job_id)

        def change(pipe: redis.client.Pipeline) -> tuple[bool, bool]:
            """Whether ``fields`` were applied, and whether the job is finished now."""
            stored = pipe.hgetall(key)
            if not stored:
                return False, False
            job = Job.from_hash(job_id, stored)
            if job.status in FINISHED:
                return False, False  # finished is final: a late or duplicate delivery changes nothing
            now = time.time()
            applied = not job.overdue(now)
            pipe.multi()
            if applied:
                pipe.hset(key, mapping=fields)
                for part, value in (results or {}).items():
                    pipe.set(self.key(job_id, part), value, ex=self.ttl)
            else:
                expired = job.as_of(now)  # record what status has been reporting since the deadline
                pipe.hset(
                    key,
                    mapping={
                        "status": FAILED,
                        "finished_at": expired.finished_at,
                        "reason": EXPIRED,
                        "error": expired.error,
                    },
                )
            pipe.expire(key, self.ttl)
            return applied, not applied or fields.get("status") in FINISHED

        applied, finished = self.redis.transaction(change, key, value_from_callable=True)
        if finished:
            self.redis.zrem(self._unfinished(job_id), job_id)
            self._replicated(job_id)
        return applied

    def mark_in_progress(self, job_id: str) -> bool:
        return self._update(job_id, {"status": IN_PROGRESS, "started_at": time.time()})

    def mark_complete(self, job_id: str, png: bytes, summary: dict[str, Any]) -> bool:
        return self._update(
            job_id,
            {"status": COMPLETE, "finished_at": time.time()},
            {"png": png, "summary": json.dumps(summary).encode()},
        )

    def mark_failed(self, job_id: str, error: str, reason: str = ERROR) -> bool:
        """Fail the job for good with a message (``error``) and a code (``reason``)."""
        return self._update(
            job_id, {"status": FAILED, "finished_at": time.time(), "error": error, "reason": reason}
        )

    def delete(self, job_id: str, client: str | None = None) -> None:
        """Forget a job that was never accepted (DEL works on a full Redis, where writes do not)."""
        self.redis.delete(self.key(job_id))
        self.redis.zrem(self._unfinished(job_id), job_id)
        if client is not None:
            self.redis.zrem(client_jobs_key(client), job_id)

    def result(self, job_id: str, part: str) -> bytes | None:
        """A finished job's ``png`` or ``summary`` (JSON bytes)."""
        return self.redis.get(self.key(job_id, part))

    def lock(self, job_id: str, seconds: float) -> redis.lock.Lock:
        """A short lock on the job, so that only one delivery of its event renders it."""
        return self.redis.lock(self.key(job_id, "lock"), timeout=seconds, blocking=False)
