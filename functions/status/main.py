"""status: a job's state, and its finished picture or JSON summary."""

from __future__ import annotations

import gc

import flask
import functions_framework

from shared.config import load_config_or_exit
from shared.errors import ApiError
from shared.observability import logs
from shared.observability.observe import observe
from shared.store.jobs import COMPLETE, FAILED, JobStore, check_job_id, not_found
from shared.store.redis_client import connect
from shared.web.cors import allow_cross_origin
from shared.web.http import Route, Router, install_error_handlers, json_response

CONFIG = load_config_or_exit()
observe(CONFIG)
JOBS = JobStore(
    connect(CONFIG.redis_url, CONFIG.redis_timeout_seconds),
    CONFIG.job_ttl_seconds,
    CONFIG.job_deadline_seconds,
)
install_error_handlers(functions_framework.errorhandler)
allow_cross_origin(CONFIG.cors_allowed_origins)
RETRY_AFTER_SECONDS = "1"


def _check_parameters(request: flask.Request, allowed: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take, or one given more than once."""
    unknown = sorted(set(request.args) - set(allowed))
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        names = ", ".join(name[:40] for name in unknown[:5])
        raise ApiError(400, "unknown_parameter", f"unknown parameter(s) {names}; {takes}")
    for name in allowed:
        if len(request.args.getlist(name)) > 1:
            raise ApiError(400, "invalid_parameter", f"{name} is given more than once")


def _job_id(job_id: str) -> str:
    """The valid job id of a path, bound to the request's log line."""
    logs.bind(job_id=check_job_id(job_id))
    return job_id


def job_status(request: flask.Request, job_id: str) -> flask.Response:
    _check_parameters(request, ())
    job = JOBS.get(_job_id(job_id))
    if job is None:
        raise not_found(job_id)
    return json_response(job.status_json())


def _wants_json(request: flask.Request) -> bool:
    _check_parameters(request, ("format",))
    if request.args.get("format") is not None:
        fmt = request.args["format"]
        if fmt not in ("json", "png"):
            raise ApiError(400, "invalid_parameter", "format: expected 'png' or 'json'")
        return fmt == "json"
    accept = request.accept_mimetypes
    return accept.quality("application/json") > accept.quality("image/png")


def job_result(request: flask.Request, job_id: str) -> flask.Response:
    as_json = _wants_json(request)
    job = JOBS.get(_job_id(job_id))
    if job is None:
        raise not_found(job_id)
    if job.status == FAILED:
        raise ApiError(
            409, "job_failed", f"job {job_id} failed: {job.error}", reason=job.reason, job=job.status_json()
        )
    if job.status != COMPLETE:
        return json_response(job.status_json(), 202, {"Retry-After": RETRY_AFTER_SECONDS})
    result = JOBS.result(job_id, "summary" if as_json else "png")
    if result is None:  # expired between the two reads
        raise not_found(job_id)
    if as_json:
        return flask.Response(result, mimetype="application/json")
    response = flask.Response(result, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="tumorscope-{job_id}.png"'
    return response


ROUTER = Router(
    "status",
    [
        Route("GET", "/status/<path:job_id>", job_status, "a job's status"),
        Route("GET", "/result/<path:job_id>", job_result, "a finished job's PNG, or its JSON summary"),
    ],
)


@functions_framework.http
def status(request: flask.Request) -> flask.Response:
    return ROUTER.dispatch(request)


# What loading made lives as long as the process: keep it out of the garbage collector's passes
# (shorter pauses while serving, and an exit some 0.15 s of CPU quicker when scaled to zero).
gc.freeze()
