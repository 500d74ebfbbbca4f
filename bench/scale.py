"""Scale: load time into Redis, and uncached histogram and scatter, for 569 to 1,000,000 rows.

Each round loads every size in turn (so the version changes and graph fetches the columns
anew), then asks for a histogram and a scatter that are not in the plot cache.
"""

from __future__ import annotations

import time

from bench.context import Context
from bench.datasets import scale_csv
from bench.load import Target, latency_series
from shared.dataset import load_file

SIZES = (569, 10_000, 100_000, 1_000_000)
HISTOGRAM = "/graph/histogram?feature=radius_mean&bins=10"
SCATTER = "/graph/scatter?x=radius_mean&y=texture_mean"


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
    latency_series(histogram, 1)  # graph has imported matplotlib before the first measured plot
    for _ in range(ctx.rounds):
        for rows in SIZES:
            began = time.perf_counter()
            load_file(ctx.client, files[rows])
            figures[str(rows)]["load_s"].append(time.perf_counter() - began)
            ctx.forget_plots()
            figures[str(rows)]["histogram_ms"].extend(latency_series(histogram, 1))
            figures[str(rows)]["scatter_ms"].extend(latency_series(scatter, 1))
    return figures
