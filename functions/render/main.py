"""render: draws a job's result from its CloudEvent. graph: plots of the data set over HTTP."""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from urllib.parse import urlencode

import flask
import functions_framework
from cloudevents.http import CloudEvent
from redis.exceptions import RedisError

from shared import renderer
from shared.config import load_config_or_exit
from shared.dataset import rows
from shared.dataset.columns import ColumnCache, MissingIds, NoDataset
from shared.dataset.columns import info as dataset_info
from shared.errors import ApiError, bad_request, unavailable
from shared.observability import logs, telemetry, tracing
from shared.observability.observe import observe
from shared.plotting.graphs import FORMATS, PLOTS, feature_table
from shared.renderer import Outcome, Renderer, dead_letter_reason, is_dead_lettered
from shared.store.jobs import JobStore, check_job_id
from shared.store.plot_cache import BROWSER_MAX_AGE_SECONDS, PlotCache
from shared.store.redis_client import connect
from shared.web import events
from shared.web.clients import identify
from shared.web.explorer import Explorer
from shared.web.http import Route, Router, install_error_handlers, json_response
from shared.web.ratelimit import RateLimit, storage_for

CONFIG = load_config_or_exit()
observe(CONFIG)  # the service is render or graph: functions-framework's --target
log = logging.getLogger("tumorscope")
REDIS = connect(CONFIG.redis_url, CONFIG.redis_timeout_seconds)
COLUMNS = ColumnCache(REDIS, CONFIG.dataset_path)
RENDERER = Renderer(
    JobStore(REDIS, CONFIG.job_ttl_seconds, CONFIG.job_deadline_seconds), COLUMNS, CONFIG.render_lock_seconds
)
#: Plots may be evicted, so they live in the cache, which may be another Redis than the store.
CACHE = (
    REDIS
    if CONFIG.cache_redis_url == CONFIG.redis_url
    else connect(CONFIG.cache_redis_url, CONFIG.redis_timeout_seconds)
)
PLOT_CACHE = PlotCache(CACHE, CONFIG.cache_ttl_seconds)
#: Plots drawn at once. Drawing holds the GIL, so more at a time buys no throughput; each one in
#: flight costs a figure's memory (THREADS=4 drawing together peaked near 170 MiB, see BENCHMARKS.md).
#: The other threads still answer cached plots and health checks meanwhile.
DRAWING = threading.BoundedSemaphore(1)
#: Only what graph draws counts (a cache hit or a 304 never does), before it waits for DRAWING.
DRAWS = RateLimit("draw", CONFIG.draw_rate_limit, storage_for(REDIS), "plots drawn")
EXPLORER = Explorer(CONFIG.submit_base_url, CONFIG.status_base_url)
install_error_handlers(functions_framework.errorhandler)


#: How long render's warm-up waits for the event that woke it before it begins without it: a cold
#: start's own job is drawn alone, then the warm-up takes a step between jobs, never starved.
FIRST_JOB_WAIT_SECONDS = 1.0


def warm_up() -> None:
    """Draw the panel backgrounds between jobs; a failure only costs later jobs time."""
    RENDERER.backgrounds.wait_for_first_job(FIRST_JOB_WAIT_SECONDS)
    began = time.monotonic()
    try:
        drawn = renderer.warm_up(COLUMNS, RENDERER.backgrounds)
    except (RedisError, NoDataset) as error:
        log.warning("render: no warm-up (%s); each background is drawn when a job first needs it", error)
        return
    log.info(
        "render: %d panel backgrounds drawn ahead of the jobs in %.1f s", drawn, time.monotonic() - began
    )


if CONFIG.service == "render" and CONFIG.render_warm_up:
    # functions-framework imports this module in gunicorn's arbiter, which forks the worker that
    # serves: the warm-up thread belongs in the worker.
    os.register_at_fork(
        after_in_child=lambda: threading.Thread(target=warm_up, name="warm-up", daemon=True).start()
    )


@functions_framework.cloud_event
def render(event: CloudEvent) -> None:
    """Answer 2xx when the job is done or failed for good, 409 while another delivery holds it."""
    if event["type"] != events.JOB_SUBMITTED:
        raise bad_request(
            "unexpected_event", f"render takes {events.JOB_SUBMITTED} events, not {event['type']}"
        )
    job_id = check_job_id(str(event.get("subject") or ""))
    logs.bind(job_id=job_id, event_id=event["id"])
    attributes = event.get_attributes()
    # The event's distributed-tracing attributes name submit's span: render's span is its child.
    with telemetry.consumer_span(f"render {events.JOB_SUBMITTED}", attributes) as span:
        tracing.set_current(span or tracing.from_carrier(attributes))
        outcome = _handle(job_id, event)
    if outcome is Outcome.LOCKED:
        raise ApiError(409, "job_locked", f"job {job_id} is being rendered by another delivery")


def _handle(job_id: str, event: CloudEvent) -> Outcome:
    started = time.perf_counter()
    attributes = event.get_attributes()
    if is_dead_lettered(attributes):  # the Trigger's deadLetterSink: retries ran out
        reason = dead_letter_reason(attributes)
        outcome = RENDERER.dead_letter(job_id, reason)
        log.warning("job %s: event %s dead-lettered (%s): %s", job_id, event["id"], outcome.value, reason)
    else:
        outcome = RENDERER.handle(job_id, event["source"], event["id"])
        quiet = outcome in (Outcome.RENDERED, Outcome.ALREADY_DONE, Outcome.LOCKED)
        log.log(
            logging.INFO if quiet else logging.WARNING,
            "job %s: event %s %s",
            job_id,
            event["id"],
            outcome.value,
        )
    logs.bind(outcome=outcome.value)
    telemetry.count_job(outcome.value)
    telemetry.record_render(time.perf_counter() - started, outcome.value)
    return outcome


def cached(
    request: flask.Request,
    route: str,
    params: dict,
    media_type: str,
    make: Callable[[str], bytes],
    limit: RateLimit | None = DRAWS,
) -> flask.Response:
    """Answer from the plot cache (ETag, 304, X-Cache); on a miss, ``make(version)`` the body once.

    Only that drawing counts against the client's ``limit``, and only when this request makes it.
    """
    version = COLUMNS.version()
    digest = PLOT_CACHE.digest(version, route, params)
    etag = PLOT_CACHE.etag(digest)
    headers = {"ETag": f'"{etag}"', "Cache-Control": f"public, max-age={BROWSER_MAX_AGE_SECONDS}"}
    if request.if_none_match.contains(etag):
        return flask.Response(status=304, headers=headers)

    def draw() -> bytes:
        if limit is not None:
            client = identify(request.environ, CONFIG.trusted_proxy_hops)
            logs.bind(client=client)
            headers.update(limit.check(client))
        with DRAWING:
            return make(version)

    body, hit = PLOT_CACHE.get_or_render(digest, draw)
    headers["X-Cache"] = "hit" if hit else "miss"
    logs.bind(cache=headers["X-Cache"])
    telemetry.count_plot_cache(hit)
    return flask.Response(body, mimetype=media_type, headers=headers)


def graph_route(name: str) -> Callable[[flask.Request], flask.Response]:
    plot = PLOTS[name]

    def answer(request: flask.Request) -> flask.Response:
        params = plot.parse(request.args.to_dict(flat=False))
        make = partial(plot.answer, params, COLUMNS)
        return cached(request, name, params, FORMATS[params["format"]], make)

    return answer


def features(request: flask.Request) -> flask.Response:
    """Every feature with its unit and description, and per diagnosis its statistics."""
    if request.args:
        raise bad_request("unknown_parameter", "features takes no parameters")
    make = lambda version: json.dumps(feature_table(COLUMNS, version), allow_nan=False).encode()  # noqa: E731
    # One table per data-set version, computed once for everyone: not a drawing to count.
    return cached(request, "features", {}, "application/json", make, limit=None)


def dataset(request: flask.Request) -> flask.Response:
    """The loaded data set: version, rows, class counts, source file."""
    if request.args:
        raise bad_request("unknown_parameter", "dataset takes no parameters")
    return json_response(dataset_info(REDIS, COLUMNS.version()))


def dataset_rows(request: flask.Request) -> flask.Response:
    """The data set's rows: a JSON page with a ``next`` link, or every matching row as CSV or NDJSON."""
    query = rows.parse_query(request.args.to_dict(flat=False))
    version = COLUMNS.version()
    selection = rows.select(query, COLUMNS, version)
    if query.format != "json":
        headers = {"Cache-Control": "no-cache"}
        if query.format == "csv":
            headers["Content-Disposition"] = f'attachment; filename="tumorscope-rows-{version[:12]}.csv"'
        return flask.Response(
            rows.stream(selection), content_type=rows.FORMATS[query.format], headers=headers
        )
    positions, cursor = selection.page()
    return json_response(rows.page_body(selection, _next_url(request, cursor), positions))


def _next_url(request: flask.Request, cursor: str | None) -> str | None:
    """The next page's URL: this one's, with the cursor. Behind a TLS proxy (Knative) the scheme
    is X-Forwarded-Proto's; the link only ever goes back to the client that asked."""
    if cursor is None:
        return None
    scheme = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip()
    scheme = scheme if scheme in ("http", "https") else request.scheme
    kept = [(k, v) for k, v in request.args.items(multi=True) if k != "_next"]
    return f"{scheme}://{request.host}{request.path}?{urlencode([*kept, ('_next', cursor)])}"


def dataset_row(request: flask.Request, case_id: str) -> flask.Response:
    """One case of the data set by its id (Kaggle's)."""
    if request.args:
        raise bad_request("unknown_parameter", "a row takes no parameters")
    return json_response(rows.find_case(case_id, COLUMNS, COLUMNS.version()))


ROUTER = Router(
    "graph",
    [
        Route("GET", "/graph/histogram", graph_route("histogram"), "histogram of one feature by diagnosis"),
        Route("GET", "/graph/scatter", graph_route("scatter"), "scatter of two features by diagnosis"),
        Route("GET", "/graph/box", graph_route("box"), "box or violin plot of one feature by diagnosis"),
        Route("GET", "/graph/correlation", graph_route("correlation"), "heatmap of Pearson correlations"),
        Route("GET", "/graph/pairs", graph_route("pairs"), "pair plot of 2 to 5 features by diagnosis"),
        Route("GET", "/features", features, "every feature: unit, description, statistics per diagnosis"),
        Route("GET", "/dataset", dataset, "the loaded data set: version, rows, class counts"),
        Route("GET", "/dataset/rows", dataset_rows, "the rows: filters, sorting, paging; JSON, CSV, NDJSON"),
        Route("GET", "/dataset/rows/<case_id>", dataset_row, "one case by its id"),
        *EXPLORER.routes(),
    ],
    page=EXPLORER.page,  # GET / in a browser: the explorer page
)


@functions_framework.http
def graph(request: flask.Request) -> flask.Response:
    try:
        return ROUTER.dispatch(request)
    except MissingIds as error:  # a data set stored before ids were kept, from another file
        log.error("graph: %s", error)
        raise ApiError(503, "dataset_without_ids", str(error), headers={"Retry-After": "60"}) from None
    except NoDataset as error:  # e.g. a data set's columns half gone from Redis: a server-side state
        log.error("graph: %s", error)
        raise unavailable("the data set") from None


# What loading made lives as long as the process: keep it out of the garbage collector's passes
# (shorter pauses while serving, and an exit some 0.15 s of CPU quicker when scaled to zero).
gc.freeze()
