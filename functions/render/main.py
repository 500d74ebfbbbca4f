"""render: draws a job's result from its CloudEvent. graph: plots of the data set over HTTP."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from functools import partial

import flask
import functions_framework
from cloudevents.http import CloudEvent

from shared import events
from shared.config import load_config
from shared.dataset import ColumnCache, NoDataset
from shared.dataset import info as dataset_info
from shared.errors import ApiError, bad_request, unavailable
from shared.explorer import Explorer
from shared.graphs import FORMATS, PLOTS, feature_table
from shared.http import Route, Router, install_error_handlers, json_response
from shared.jobs import JobStore, check_job_id
from shared.plot_cache import BROWSER_MAX_AGE_SECONDS, PlotCache
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
EXPLORER = Explorer(CONFIG.submit_base_url, CONFIG.status_base_url)
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


def cached(
    request: flask.Request, route: str, params: dict, media_type: str, make: Callable[[str], bytes]
) -> flask.Response:
    """Answer from the plot cache (ETag, 304, X-Cache); on a miss, ``make(version)`` the body once."""
    version = COLUMNS.version()
    digest = PLOT_CACHE.digest(version, route, params)
    etag = PLOT_CACHE.etag(digest)
    headers = {"ETag": f'"{etag}"', "Cache-Control": f"public, max-age={BROWSER_MAX_AGE_SECONDS}"}
    if request.if_none_match.contains(etag):
        return flask.Response(status=304, headers=headers)

    def draw() -> bytes:
        with DRAWING:
            return make(version)

    body, hit = PLOT_CACHE.get_or_render(digest, draw)
    headers["X-Cache"] = "hit" if hit else "miss"
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
    return cached(request, "features", {}, "application/json", make)


def dataset(request: flask.Request) -> flask.Response:
    """The loaded data set: version, rows, class counts, source file."""
    if request.args:
        raise bad_request("unknown_parameter", "dataset takes no parameters")
    return json_response(dataset_info(REDIS, COLUMNS.version()))


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
        *EXPLORER.routes(),
    ],
    page=EXPLORER.page,  # GET / in a browser: the explorer page
)


@functions_framework.http
def graph(request: flask.Request) -> flask.Response:
    try:
        return ROUTER.dispatch(request)
    except NoDataset as error:  # e.g. a data set's columns half gone from Redis: a server-side state
        log.error("graph: %s", error)
        raise unavailable("the data set") from None
