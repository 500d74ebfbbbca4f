"""Uncached plot time: graph's answer beside the same histogram drawn in this process two ways."""

from __future__ import annotations

import time

import numpy as np

from bench.context import Context
from bench.drawing import floor_histogram_png, original_histogram_png
from bench.load import Target, latency_series
from bench.stats import percentile
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import DIAGNOSIS, ColumnCache

PER_ROUND = 7
PATH = "/graph/histogram?feature=radius_mean&bins=10"


def _milliseconds(action) -> float:
    began = time.perf_counter()
    action()
    return (time.perf_counter() - began) * 1000


def measure(ctx: Context, graph_port: int) -> dict[str, list[float]]:
    """Per round, p50 of: graph's uncached answer, the in-process floor, the original's pyplot way."""
    data = ColumnCache(ctx.client, BUNDLED_DATASET).columns(["radius_mean", DIAGNOSIS])
    values, malignant = np.asarray(data["radius_mean"]), np.asarray(data[DIAGNOSIS], dtype=bool)
    target = Target("graph uncached plot", graph_port, lambda _i: PATH)
    floor = lambda: floor_histogram_png(values, malignant, 10)  # noqa: E731
    original = lambda: original_histogram_png(values, malignant, 10)  # noqa: E731
    floor(), original()  # warm-up: imports, font cache
    figures: dict[str, list[float]] = {"graph": [], "floor": [], "original": []}
    for _ in range(ctx.rounds):
        graph, floors, originals = [], [], []
        for _ in range(PER_ROUND):
            ctx.forget_plots()
            graph.extend(latency_series(target, 1))
            floors.append(_milliseconds(floor))
            originals.append(_milliseconds(original))
        figures["graph"].append(percentile(graph, 50))
        figures["floor"].append(percentile(floors, 50))
        figures["original"].append(percentile(originals, 50))
    return figures
