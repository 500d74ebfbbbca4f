"""The data set over HTTP: a ``/dataset/rows`` page beside the cached-plot floor, and the CSV
export of 1,000,000 rows (its time, and the peak RSS of a graph process that served nothing else).

The pages are asked of the benchmark's graph (bundled data set) in interleaved rounds with a cached
plot, the cheapest answer graph has. The export loads the 1,000,000-row data set, starts a fresh
graph, streams the CSV to a client that keeps nothing but counts, beside its floor: the same rows
formatted by the same code in this process, with no HTTP. Then it loads the bundled data set again
for the phases that follow.
"""

from __future__ import annotations

import http.client
import time

from bench.context import Context
from bench.datasets import scale_csv
from bench.load import Target, latency_series
from bench.services import peak_rss_mib
from bench.stats import percentile
from shared.config import BUNDLED_DATASET
from shared.dataset import rows
from shared.dataset.columns import ColumnCache, load_file

PER_ROUND = 15
CACHED_PLOT = "/graph/histogram?feature=radius_mean&bins=10"
PAGES = {
    "first page": "/dataset/rows",
    "filtered and sorted page": "/dataset/rows?diagnosis=M&radius_mean__gt=15&_sort_desc=area_mean",
}
EXPORT_ROWS = 1_000_000
EXPORT = "/dataset/rows?format=csv"
#: Exports timed (each streams some 280 MB), each beside the in-process floor.
EXPORT_ROUNDS = 2
#: What the export's columns take in graph's memory: 30 float64 features, int64 ids, one byte a diagnosis.
COLUMNS_MIB = EXPORT_ROWS * (30 * 8 + 8 + 1) / 2**20


def _pages(graph_port: int, rounds: int) -> dict[str, list[float]]:
    """Per round, the p50 of each page and of the cached plot, asked in turn."""
    targets = {"cached plot": CACHED_PLOT, **PAGES}
    for path in targets.values():  # the plot in the cache, the columns in graph's memory
        latency_series(Target(path, graph_port, lambda _i, path=path: path), 1)
    figures: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, path in targets.items():
            timings = latency_series(Target(name, graph_port, lambda _i, path=path: path), PER_ROUND)
            figures[name].append(percentile(timings, 50))
    return figures


def export_csv(port: int) -> tuple[float, int, int]:
    """Stream the whole CSV: seconds, bytes and data lines (the client holds one chunk at a time)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    began = time.perf_counter()
    try:
        connection.request("GET", EXPORT)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"CSV export: {response.status} {response.read()[:200]!r}")
        size = lines = 0
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
    finally:
        connection.close()
    return time.perf_counter() - began, size, lines - 1  # the header line


def formatting_floor(columns: ColumnCache, version: str) -> float:
    """Seconds to format the same CSV in this process, with the same code, and throw it away."""
    selection = rows.select(rows.parse_query({"format": ["csv"]}), columns, version)
    began = time.perf_counter()
    for _chunk in rows.stream(selection):
        pass
    return time.perf_counter() - began


def _export(ctx: Context) -> dict[str, list[float] | float]:
    version = load_file(ctx.client, scale_csv(EXPORT_ROWS, ctx.work / "datasets"))["version"]
    graph = ctx.warm("graph")  # a fresh process: its peak memory is the export's
    columns = ColumnCache(ctx.client, BUNDLED_DATASET)
    figures: dict[str, list[float] | float] = {"seconds": [], "megabytes": [], "floor_seconds": []}
    try:
        for _ in range(EXPORT_ROUNDS):
            seconds, size, count = export_csv(graph.port)
            if count != EXPORT_ROWS:
                raise RuntimeError(f"CSV export: {count} rows, not {EXPORT_ROWS}")
            figures["seconds"].append(seconds)
            figures["megabytes"].append(size / 1e6)
            figures["floor_seconds"].append(formatting_floor(columns, version))
        figures["peak_rss_mib"] = peak_rss_mib(graph)["peak_rss"]
        figures["columns_mib"] = COLUMNS_MIB
    finally:
        graph.stop()
        ctx.services.remove(graph)
        load_file(ctx.client, BUNDLED_DATASET)
    return figures


def measure(ctx: Context, graph_port: int) -> dict[str, dict]:
    return {"pages": _pages(graph_port, ctx.rounds), "export": _export(ctx)}
