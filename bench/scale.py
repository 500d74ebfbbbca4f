"""Scale: load time into Redis, and uncached histogram and scatter, for 569 to 1,000,000 rows.

Each round loads every size in turn (so the version changes and graph fetches the columns
anew), then asks for a histogram and a scatter that are not in the plot cache. At 569 and
1,000,000 rows it then asks every graph route once uncached and once more (from the cache).
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.datasets import scale_csv
from bench.load import Target, latency_series
from shared.dataset.columns import load_file

SIZES = (569, 10_000, 100_000, 1_000_000)
HISTOGRAM = "/graph/histogram?feature=radius_mean&bins=10"
SCATTER = "/graph/scatter?x=radius_mean&y=texture_mean"
#: Every graph route, asked uncached and then cached at these sizes, right after the load: columns
#: that the histogram and scatter have not fetched yet are fetched by the first route that draws
#: them. /dataset is not a cached route.
ROUTE_SIZES = (569, 1_000_000)
ROUTES = {
    "histogram": HISTOGRAM,
    "scatter": SCATTER,
    "box": "/graph/box?feature=radius_mean",
    "violin": "/graph/box?feature=radius_mean&kind=violin",
    "correlation (30 features)": "/graph/correlation",
    "pairs (3 features)": "/graph/pairs?features=radius_mean,texture_mean,area_mean",
    "features": "/features",
    "dataset": "/dataset",
}


DATASETS = {
    "569": "the bundled file",
    "larger": "bench/generate_dataset.py: the bundled rows resampled with noise (cached in .bench/datasets)",
}


def measure(ctx: Context, graph_port: int) -> dict[str, dict[str, list[float]]]:
    files = {rows: scale_csv(rows, ctx.work / "datasets") for rows in SIZES}
    histogram = Target("histogram", graph_port, lambda _i: HISTOGRAM)
    scatter = Target("scatter", graph_port, lambda _i: SCATTER)
    figures: dict[str, dict[str, list[float]]] = {
        str(rows): {"load_s": [], "histogram_ms": [], "scatter_ms": []} for rows in SIZES
    }
    routes: dict[str, dict[str, dict[str, list[float]]]] = {
        str(rows): {route: {"uncached_ms": [], "cached_ms": []} for route in ROUTES} for rows in ROUTE_SIZES
    }
    latency_series(histogram, 1)  # graph has imported matplotlib before the first measured plot
    for _ in range(ctx.rounds):
        for rows in SIZES:
            began = time.perf_counter()
            load_file(ctx.client, files[rows])
            figures[str(rows)]["load_s"].append(time.perf_counter() - began)
            ctx.forget_plots()
            figures[str(rows)]["histogram_ms"].extend(latency_series(histogram, 1))
            figures[str(rows)]["scatter_ms"].extend(latency_series(scatter, 1))
            if rows in ROUTE_SIZES:
                _every_route(ctx, graph_port, routes[str(rows)])
    return {**figures, "routes": routes}


def _every_route(ctx: Context, graph_port: int, figures: dict[str, dict[str, list[float]]]) -> None:
    ctx.forget_plots()
    for route, path in ROUTES.items():
        first, second = latency_series(Target(route, graph_port, lambda _i, path=path: path), 2)
        figures[route]["uncached_ms"].append(first)
        figures[route]["cached_ms"].append(second)
