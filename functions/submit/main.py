"""submit: POST a tumour's measurements, get a job id; the job's event goes to K_SINK."""

from __future__ import annotations

import gc
import logging

import flask
import functions_framework

from shared.config import load_config_or_exit
from shared.dataset.features import parse_sample
from shared.errors import at_capacity, unavailable
from shared.observability import logs, tracing
from shared.observability.observe import observe
from shared.store.jobs import SINK_FAILED, JobStore, check_idempotency_key
from shared.store.redis_client import FULL_ERROR, connect
from shared.web import events, sink
from shared.web.clients import identify
from shared.web.cors import allow_cross_origin
from shared.web.http import Route, Router, install_error_handlers, json_response, read_json
from shared.web.ratelimit import RateLimit, storage_for

CONFIG = load_config_or_exit()
observe(CONFIG)
log = logging.getLogger("tumorscope")
REDIS = connect(CONFIG.redis_url, CONFIG.redis_timeout_seconds)
JOBS = JobStore(REDIS, CONFIG.job_ttl_seconds, CONFIG.job_deadline_seconds, CONFIG.client_store_share)
#: Every valid submit counts, a replay too; a bad one is a 4xx that leaves Redis as it was.
SUBMITS = RateLimit("submit", CONFIG.submit_rate_limit, storage_for(REDIS), "submits")
install_error_handlers(functions_framework.errorhandler)
allow_cross_origin(CONFIG.cors_allowed_origins)
#: One pooled, retrying HTTP session to K_SINK: keep-alive saves a TCP connect and a Session per event.
SINK = sink.sink_session()


def _links(job_id: str) -> dict[str, str]:
    base = CONFIG.status_base_url
    return {"status_url": f"{base}/status/{job_id}", "result_url": f"{base}/result/{job_id}"}


def submit_sample(request: flask.Request) -> flask.Response:
    """202 and a new job; with an Idempotency-Key seen before, 200 and that key's job."""
    client = identify(request.environ, CONFIG.trusted_proxy_hops)
    logs.bind(client=client)
    key = request.headers.get("Idempotency-Key")
    if key is not None:
        check_idempotency_key(key)
    sample = parse_sample(read_json(request, CONFIG.max_body_bytes))
    limit_headers = SUBMITS.check(client)
    admitted = JOBS.ensure_room(client)  # on a Redis Cluster, the room of the shard this job will be on
    trace = tracing.current()
    trace_id = trace.trace_id if trace else None
    if key is None:
        job, created = JOBS.create(sample, trace_id, admitted.job_id, admitted.owner), True
    else:
        job, created = JOBS.create_once(sample, key, trace_id, admitted.job_id, admitted.owner)
    logs.bind(job_id=job.job_id)
    links = _links(job.job_id)
    body = {"job_id": job.job_id, "status": job.status, **links}
    if not created:
        log.info("job %s: the same sample again under its Idempotency-Key", job.job_id)
        replayed = {"Location": links["status_url"], "Idempotent-Replayed": "true", **limit_headers}
        return json_response(body, 200, replayed)
    event = events.job_submitted(job.job_id, sample, CONFIG.ce_overrides, trace)
    logs.bind(event_id=event["id"])
    try:
        sink.send(event, CONFIG.k_sink, CONFIG.sink_timeout_seconds, SINK)
    except sink.SinkError as error:
        log.error("job %s: the event sink did not accept its event: %s", job.job_id, error)
        if key is not None:  # a retry with the same key may try again
            JOBS.forget_idempotency_key(key, job.job_id)
        try:
            JOBS.mark_failed(
                job.job_id, f"the event sink did not accept the job's event: {error}", SINK_FAILED
            )
        except FULL_ERROR:  # not even the failure fits: keep no job that has no event
            JOBS.delete(job.job_id, client)
            raise at_capacity() from None
        failed = unavailable("the event sink")
        failed.details["job_id"] = job.job_id
        raise failed from None
    # The job's status as the answer leaves: with K_SINK at render itself (make dev, compose), complete.
    now = JOBS.get(job.job_id)
    body["status"] = now.status if now else job.status
    log.info("job %s %s with %d feature(s)", job.job_id, body["status"], len(sample))
    return json_response(body, 202, {"Location": links["status_url"], **limit_headers})


ROUTER = Router(
    "submit",
    [
        Route("POST", "/", submit_sample, "submit a sample (JSON object of feature values)"),
        Route("POST", "/submit", submit_sample, "the same, at the original app's path"),
        Route("GET", "/submit", lambda request: ROUTER.answer_index(request), "this index"),
    ],
)


@functions_framework.http
def submit(request: flask.Request) -> flask.Response:
    return ROUTER.dispatch(request)


# What loading made lives as long as the process: keep it out of the garbage collector's passes
# (shorter pauses while serving, and an exit some 0.15 s of CPU quicker when scaled to zero).
gc.freeze()
