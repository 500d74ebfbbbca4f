"""render: draws a job's result from its CloudEvent. graph: plots of the data set over HTTP."""

from __future__ import annotations

import logging

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared import events
from shared.config import load_config
from shared.dataset import ColumnCache
from shared.errors import ApiError, bad_request
from shared.graphs import FORMATS, PLOTS
from shared.http import Route, Router, health, install_error_handlers, json_response
from shared.jobs import JobStore, check_job_id
from shared.plot_cache import PlotCache
from shared.redis_client import connect
from shared.renderer import Outcome, Renderer, dead_letter_reason, is_dead_lettered

CONFIG = load_config()
logging.basicConfig(level=CONFIG.log_level, format="%(levelname)s render %(message)s")
log = logging.getLogger("tumorscope")
REDIS = connect(CONFIG.redis_url, CONFIG.redis_timeout_seconds)
COLUMNS = ColumnCache(REDIS, CONFIG.dataset_path)
RENDERER = Renderer(
    JobStore(REDIS, CONFIG.job_ttl_seconds, CONFIG.job_deadline_seconds), COLUMNS, CONFIG.render_lock_seconds
)
PLOT_CACHE = PlotCache(REDIS, CONFIG.cache_ttl_seconds)
install_error_handlers(functions_framework.errorhandler)


@functions_framework.cloud_event
def render(event: CloudEvent) -> None:
    """Answer 2xx when the job is done or failed for good, 409 while another delivery holds it."""
    if event["type"] != events.JOB_SUBMITTED:
        raise bad_request(
            "unexpected_event", f"render takes {events.JOB_SUBMITTED} events, not {event['type']}"
        )
    job_id = check_job_id(str(event.get("subject") or ""))
    if is_dead_lettered(event.get_attributes()):  # the Trigger's deadLetterSink: retries ran out
        reason = dead_letter_reason(event.get_attributes())
        outcome = RENDERER.dead_letter(job_id, reason)
        log.warning("job %s: event %s dead-lettered (%s): %s", job_id, event["id"], outcome.value, reason)
        return
    outcome = RENDERER.handle(job_id, event["source"], event["id"])
    quiet = outcome in (Outcome.RENDERED, Outcome.ALREADY_DONE, Outcome.LOCKED)
    log.log(
        logging.INFO if quiet else logging.WARNING, "job %s: event %s %s", job_id, event["id"], outcome.value
    )
    if outcome is Outcome.LOCKED:
        raise ApiError(409, "job_locked", f"job {job_id} is being rendered by another delivery")


def graph_route(name: str):
    plot = PLOTS[name]

    def answer(request: flask.Request) -> flask.Response:
        params = plot.parse(request.args.to_dict(flat=False))
        version = COLUMNS.version()
        digest = PLOT_CACHE.digest(version, name, params)
        headers = {"ETag": f'"{digest[:32]}"', "Cache-Control": f"public, max-age={CONFIG.cache_ttl_seconds}"}
        if request.if_none_match.contains(digest[:32]):
            return flask.Response(status=304, headers=headers)
        body = PLOT_CACHE.get(digest)
        headers["X-Cache"] = "hit" if body is not None else "miss"
        if body is None:
            body = plot.answer(params, COLUMNS, version)
            PLOT_CACHE.put(digest, body)
        return flask.Response(body, mimetype=FORMATS[params["format"]], headers=headers)

    return answer


ROUTER = Router(
    "graph",
    [
        Route("GET", "/", lambda _r: json_response(ROUTER.index()), "this index"),
        Route("GET", "/graph/histogram", graph_route("histogram"), "histogram of one feature by diagnosis"),
        Route("GET", "/graph/scatter", graph_route("scatter"), "scatter of two features by diagnosis"),
        Route("GET", "/health/readiness", health, "readiness probe"),
        Route("GET", "/health/liveness", health, "liveness probe"),
    ],
)


@functions_framework.http
def graph(request: flask.Request) -> flask.Response:
    return ROUTER.dispatch(request)
