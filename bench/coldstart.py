"""Cold start: process spawn -> first real answer, for each function and floor, interleaved."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cloudevents.conversion import to_binary

from bench.context import JSON, SAMPLE, Context, unknown_job_id
from bench.services import SOURCES, first_answer, peak_rss_mib, spawn
from shared.store.jobs import COMPLETE, JobStore
from shared.web import events

HISTOGRAM = "/graph/histogram?feature=radius_mean&bins=10"


@dataclass
class Case:
    """One cold start: which source, the request that proves it is up, what to do just before."""

    name: str
    source: str
    method: str
    path: str
    expect: int
    body: Callable[[], tuple[bytes | None, dict[str, str]]] = lambda: (None, {})
    prepare: Callable[[], None] = lambda: None
    check: Callable[[], None] = lambda: None
    environ: dict[str, str] = field(default_factory=dict)


def cases(ctx: Context, sink_url: str) -> list[Case]:
    jobs = JobStore(ctx.client, 600)
    last_job: list[str] = []

    def render_event() -> tuple[bytes, dict[str, str]]:
        features = json.loads(SAMPLE)
        job = jobs.create(features)
        last_job[:] = [job.job_id]
        headers, body = to_binary(events.job_submitted(job.job_id, features, {}))
        return body, headers

    def rendered() -> None:
        job = jobs.get(last_job[0])
        if job is None or job.status != COMPLETE:
            raise RuntimeError(f"render's first job ended {job and job.status}, not complete")

    json_body = lambda: (SAMPLE, dict(JSON))  # noqa: E731
    return [
        Case("hello world", "hello", "GET", "/", 202),
        Case("light floor", "light", "GET", "/", 200),
        Case("plot floor", "plot", "GET", "/?bins=10", 200),
        Case("submit", "submit", "POST", "/submit", 202, json_body, environ={"K_SINK": sink_url}),
        Case("status", "status", "GET", f"/status/{unknown_job_id()}", 404),
        # The cached case runs first: the uncached case leaves the plot cached for the next round.
        Case("graph cached plot", "graph", "GET", HISTOGRAM, 200),
        Case("graph uncached plot", "graph", "GET", HISTOGRAM, 200, prepare=ctx.forget_plots),
        Case("render first job", "render", "POST", "/", 200, render_event, check=rendered),
    ]


def measure(ctx: Context, sink_url: str) -> dict[str, dict]:
    """Seconds from spawn to first answer per case and round, and each cold process's RSS after it."""
    all_cases = cases(ctx, sink_url)
    seconds: dict[str, list[float]] = {case.name: [] for case in all_cases}
    rss: dict[str, list[float]] = {case.name: [] for case in all_cases}
    for round_number in range(ctx.rounds + 1):  # round 0 primes page and font caches, and the plot cache
        for case in all_cases:
            case.prepare()
            body, headers = case.body()
            began = time.perf_counter()
            service = spawn(SOURCES[case.source], ctx.environ(**case.environ), ctx.logs)
            try:
                first_answer(service, case.method, case.path, case.expect, body, headers)
                if round_number:
                    seconds[case.name].append(time.perf_counter() - began)
                    rss[case.name].append(peak_rss_mib(service)["peak_rss"])
            finally:
                service.stop()
            case.check()
    return {name: {"seconds": seconds[name], "rss_mib": rss[name]} for name in seconds}
