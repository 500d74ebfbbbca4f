"""Turning a job-submitted event into the job's picture and summary, exactly once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from collections.abc import Mapping
from enum import Enum
from typing import Any

import redis
from redis.exceptions import LockError

from shared.dataset.columns import DIAGNOSIS, ColumnCache, NoDataset
from shared.dataset.columns import info as dataset_info
from shared.picture.backgrounds import Backgrounds
from shared.picture.layout import MAX_PANELS, picture_data
from shared.store.jobs import EXPIRED, FINISHED, RENDER_FAILED, UNDELIVERABLE, Job, JobStore

log = logging.getLogger("tumorscope")

#: How long one delivery may hold a job by default (RENDER_LOCK_SECONDS); a delivery that dies
#: leaves the job to the next delivery after this.
LOCK_SECONDS = 60.0
#: The largest data set render warms its backgrounds up for.
WARM_UP_MAX_ROWS = 20_000
#: The extensions Knative adds to an event it sends to a Trigger's deadLetterSink.
DEAD_LETTER_EXTENSIONS = ("knativeerrorcode", "knativeerrordest", "knativeerrordata")
#: The most of the subscriber's answer that a failed job's reason quotes.
DEAD_LETTER_DATA_CHARS = 200


class Outcome(Enum):
    RENDERED = "rendered"
    FAILED = "failed"  # for good: a deterministic error, recorded on the job
    ALREADY_DONE = "already-done"  # a redelivery: nothing to do
    EXPIRED = "expired"  # past its deadline: failed for good, not drawn any more
    UNKNOWN_JOB = "unknown-job"  # never existed or expired
    LOCKED = "locked"  # another delivery is rendering it right now


def draw(
    job: Job, columns: ColumnCache, backgrounds: Backgrounds | None = None, palette: bool = True
) -> tuple[bytes, dict]:
    """The job's PNG and JSON summary: composed from ``backgrounds``, or without them drawn whole
    (and then, without ``palette``, in full colour)."""
    from shared.dataset import analysis  # numpy and matplotlib: only once there is a job to draw
    from shared.picture import job as picture

    version = columns.version()
    data = columns.columns([*job.features, DIAGNOSIS], version)
    malignant = data.pop(DIAGNOSIS)
    summary = analysis.job_summary(job.job_id, job.features, data, malignant, columns.ids(version))
    shown = picture_data(data, malignant, list(job.features)[:MAX_PANELS])
    if backgrounds is None:
        return picture.full_png(job.features, shown, palette), summary
    return picture.png(version, job.features, shown, backgrounds), summary


def warm_up(columns: ColumnCache, backgrounds: Backgrounds) -> int:
    """Draw the current data set's panel backgrounds ahead of its jobs; returns how many were drawn.
    Nothing for a data set over WARM_UP_MAX_ROWS, whose jobs are dominated by its data anyway."""
    from shared.dataset.features import FEATURES

    version = columns.version()
    if dataset_info(columns.redis, version)["rows"] > WARM_UP_MAX_ROWS:
        return 0
    data = columns.columns([*FEATURES, DIAGNOSIS], version)
    malignant = data.pop(DIAGNOSIS)
    return backgrounds.warm(version, picture_data(data, malignant, list(FEATURES)))


def is_dead_lettered(attributes: Mapping[str, Any]) -> bool:
    """True for an event Knative gave up delivering and sent to the dead-letter sink instead."""
    return any(name in attributes for name in DEAD_LETTER_EXTENSIONS)


def dead_letter_reason(attributes: Mapping[str, Any]) -> str:
    """A failed job's reason, from the error extensions Knative puts on a dead-lettered event."""
    code = attributes.get("knativeerrorcode") or "no answer"
    destination = attributes.get("knativeerrordest") or "the subscriber"
    reason = f"the job's event could not be delivered to {destination} (last answer: HTTP {code})"
    try:
        data = base64.b64decode(attributes.get("knativeerrordata") or "", validate=True)
    except (binascii.Error, ValueError):
        data = b""
    detail = " ".join(data.decode("utf-8", "replace").split())[:DEAD_LETTER_DATA_CHARS]
    return f"{reason}: {detail}" if detail else reason


def settled(job: Job | None) -> Outcome | None:
    """What a delivery for ``job`` comes to without drawing anything; None if it needs drawing."""
    if job is None:
        return Outcome.UNKNOWN_JOB
    if job.reason == EXPIRED:
        return Outcome.EXPIRED
    if job.status in FINISHED:
        return Outcome.ALREADY_DONE
    return None


class Renderer:
    def __init__(
        self,
        jobs: JobStore,
        columns: ColumnCache,
        lock_seconds: float = LOCK_SECONDS,
        backgrounds: Backgrounds | None = None,
    ) -> None:
        self.jobs = jobs
        self.columns = columns
        self.lock_seconds = lock_seconds
        self.backgrounds = backgrounds or Backgrounds()

    def _delivered_key(self, source: str, event_id: str) -> str:
        digest = hashlib.sha256(f"{source}\n{event_id}".encode()).hexdigest()
        return f"tumorscope:event:{digest}"

    def handle(self, job_id: str, source: str, event_id: str) -> Outcome:
        with self.backgrounds.busy():  # the warm-up waits while a job is handled, from its first read
            return self._handle(job_id, source, event_id)

    def _handle(self, job_id: str, source: str, event_id: str) -> Outcome:
        delivered = self._delivered_key(source, event_id)
        if self.jobs.redis.exists(delivered):
            return Outcome.ALREADY_DONE
        job = self.jobs.get(job_id)
        outcome = settled(job)
        if outcome is Outcome.EXPIRED:
            self.jobs.mark_failed(job_id, job.error or "", EXPIRED)  # record what status reports
        if outcome is not None:
            return outcome
        lock = self.jobs.lock(job_id, self.lock_seconds)
        if not lock.acquire():
            return Outcome.LOCKED
        try:
            return self._render(job_id, delivered)
        finally:
            try:
                lock.release()
            except LockError:
                log.warning("job %s: its lock expired while rendering", job_id)

    def _render(self, job_id: str, delivered: str) -> Outcome:
        job = self.jobs.get(job_id)  # read again under the lock: another delivery may have finished it
        outcome = settled(job)
        if outcome is not None:
            return outcome
        if not self.jobs.mark_in_progress(job_id):  # finished or past its deadline meanwhile
            return settled(self.jobs.get(job_id)) or Outcome.ALREADY_DONE
        try:
            png, summary = draw(job, self.columns, self.backgrounds)
        except redis.exceptions.ConnectionError:
            raise  # Redis is down: let the delivery fail so that it is retried
        except (NoDataset, ValueError, KeyError) as error:
            log.exception("job %s failed", job_id)
            self.jobs.mark_failed(job_id, f"could not render the result: {error}", RENDER_FAILED)
            return Outcome.FAILED
        rendered = self.jobs.mark_complete(job_id, png, summary)
        try:
            self.jobs.redis.set(delivered, job_id, ex=self.jobs.ttl)
        except redis.exceptions.OutOfMemoryError:  # the job's state de-duplicates a redelivery too
            log.warning(
                "job %s: the store is full; its event %s is not recorded as delivered", job_id, delivered
            )
        if not rendered:  # another delivery finished first, or the deadline passed while drawing
            return settled(self.jobs.get(job_id)) or Outcome.ALREADY_DONE
        return Outcome.RENDERED

    def dead_letter(self, job_id: str, reason: str) -> Outcome:
        """Mark the job failed with ``reason``, unless a delivery finished it after all."""
        job = self.jobs.get(job_id)
        if job is None:
            return Outcome.UNKNOWN_JOB
        if job.status in FINISHED:
            return Outcome.ALREADY_DONE
        self.jobs.mark_failed(job_id, reason, UNDELIVERABLE)
        return Outcome.FAILED
