"""Warm latency (p50, p99) and throughput at concurrency 1 and 16, each target beside its floors."""

from __future__ import annotations

import time

from bench.context import JSON, SAMPLE, Context
from bench.load import Target, latency_series, redis_benchmark, wrk, wrk_script
from bench.services import Service, wait_idle
from bench.stats import percentile
from shared.dataset.features import FEATURES

#: Requests per round in a latency series: more for quick answers, fewer for drawn plots.
QUICK_SERIES, DRAWN_SERIES = 100, 12
#: wrk's run per target and concurrency; a drawn plot gets longer, so that some finish at c16.
WRK_SECONDS, DRAWN_WRK_SECONDS = 1, 2
CONCURRENCY = (1, 16)
CACHED_HISTOGRAM = "/graph/histogram?feature=radius_mean&bins=10"


def uncached_histogram(i: int) -> str:
    """A different histogram for every i (30 features x bins), so none is in the cache."""
    return f"/graph/histogram?feature={FEATURES[i % len(FEATURES)]}&bins={5 + i // len(FEATURES)}"


def targets(ports: dict[str, int], job_id: str) -> list[Target]:
    return [
        Target("light floor", ports["light"], lambda _i: "/"),
        Target("submit", ports["submit"], lambda _i: "/submit", 202, "POST", SAMPLE, JSON),
        Target("status", ports["status"], lambda _i: f"/status/{job_id}"),
        Target("result", ports["status"], lambda _i: f"/result/{job_id}"),
        Target("graph cached plot", ports["graph"], lambda _i: CACHED_HISTOGRAM),
        Target("plot floor", ports["plot"], lambda _i: "/?bins=10"),
        Target("graph uncached plot", ports["graph"], uncached_histogram),
    ]


def _drawn(target: Target) -> bool:
    return target.name in ("plot floor", "graph uncached plot")


def redis_round_trips(ctx: Context, count: int) -> list[float]:
    """Milliseconds for one GET of a small key with redis-py, the client the functions use."""
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        ctx.client.get("tumorscope:dataset:current")
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def measure(ctx: Context, services: dict[str, Service], job_id: str) -> dict[str, dict[str, list[float]]]:
    all_targets = targets({name: service.port for name, service in services.items()}, job_id)
    by_port = {service.port: service for service in services.values()}
    scripts = {t.name: wrk_script(t, ctx.work) for t in all_targets}
    figures: dict[str, dict[str, list[float]]] = {t.name: {} for t in [*all_targets, Target("redis", 0, str)]}

    def add(name: str, key: str, value: float) -> None:
        figures[name].setdefault(key, []).append(value)

    for t in all_targets:  # warm every code path (and column cache) once, unmeasured
        if _drawn(t):
            ctx.forget_plots()
        latency_series(t, 3)
    for _ in range(ctx.rounds):
        series = redis_round_trips(ctx, QUICK_SERIES)
        add("redis", "p50_c1", percentile(series, 50))
        add("redis", "p99_c1", percentile(series, 99))
        for t in all_targets:
            if _drawn(t):
                ctx.forget_plots()
            series = latency_series(t, DRAWN_SERIES if _drawn(t) else QUICK_SERIES)
            add(t.name, "p50_c1", percentile(series, 50))
            add(t.name, "p99_c1", percentile(series, 99))
        for connections in CONCURRENCY:
            for t in all_targets:
                if _drawn(t):
                    ctx.forget_plots()
                seconds = DRAWN_WRK_SECONDS if _drawn(t) else WRK_SECONDS
                result = wrk(t, connections, seconds, scripts[t.name])
                add(t.name, f"p50_c{connections}_wrk", result.p50_ms)
                add(t.name, f"p99_c{connections}_wrk", result.p99_ms)
                add(t.name, f"rps_c{connections}", result.requests_per_second)
                add(t.name, f"bad_c{connections}", result.errors + result.unexpected)
                if _drawn(t):
                    wait_idle(by_port[t.port])
            rps = redis_benchmark(ctx.redis_port, connections, 20000)
            if rps is not None:
                add("redis", f"rps_c{connections}", rps)
    return figures
