"""BENCHMARKS.md from a run's results: one table (figure, median, min-max, floor, ratio, target).

Everything above the NOTES marker is written by ``make bench``; what is below it (the profile
findings and what each change bought) is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.stats import paired_ratio, summary

NOTES = "<!-- notes: everything below is kept by make bench -->"

#: The app Tumorscope replaces, measured on this kind of machine (from issue 6).
ORIGINAL = {
    "cold start, API": "1.2 s",
    "cold start, worker": "3.4 s",
    "job turnaround p50": "310 ms",
    "900x600 plot": "210 ms",
    "peak RSS": "109 MiB (API), 214 MiB (worker)",
}


@dataclass(frozen=True)
class Row:
    figure: str
    unit: str
    values: list[float]
    floor: str = ""
    floor_values: list[float] | None = None
    target: str = ""  # e.g. "<= 1.15x", ">= 0.70x", "<= 60" (ratio targets end in x)

    def ratio(self) -> float | None:
        if not self.floor_values:
            return None
        return paired_ratio(self.values, self.floor_values)

    def met(self) -> str:
        if not self.target:
            return ""
        op, limit = self.target.split()
        measured = self.ratio() if limit.endswith("x") else summary(self.values)["median"]
        if measured is None:
            return "?"
        bound = float(limit.rstrip("x"))
        ok = {"<=": measured <= bound, ">=": measured >= bound, "<": measured < bound}[op]
        return "met" if ok else "**missed**"

    def cells(self) -> list[str]:
        s = summary(self.values)
        floor = ""
        if self.floor_values:
            floor = f"{self.floor} {_number(summary(self.floor_values)['median'])}"
        ratio = self.ratio()
        return [
            self.figure,
            f"{_number(s['median'])} {self.unit}",
            f"{_number(s['min'])}-{_number(s['max'])}",
            floor,
            f"{ratio:.2f}x" if ratio is not None else "",
            self.target,
            self.met(),
        ]


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _cold_rows(cold: dict) -> list[Row]:
    s = {name: figure["seconds"] for name, figure in cold.items()}
    hello = s["hello world"]
    rows = [Row("hello world", "s", hello), Row("light floor", "s", s["light floor"], "hello", hello)]
    rows.append(Row("plot floor", "s", s["plot floor"], "hello", hello))
    for name, floor, target in (
        ("submit", "light floor", "<= 1.15x"),
        ("status", "light floor", "<= 1.15x"),
        ("graph cached plot", "light floor", "<= 1.25x"),
        ("graph uncached plot", "plot floor", "<= 1.15x"),
        ("render first job", "plot floor", "<= 1.15x"),
    ):
        rows.append(Row(name, "s", s[name], floor, s[floor], target))
        rows.append(Row(f"{name} (vs hello world)", "s", s[name], "hello", hello))
    return rows


WARM_TARGETS = {("status", "rps_c16"): ">= 0.70x", ("graph cached plot", "p50_c1"): "<= 1.5x"}
WARM_METRICS = (
    ("p50_c1", "p50 c1", "ms"),
    ("p99_c1", "p99 c1", "ms"),
    ("rps_c1", "req/s c1", "req/s"),
    ("p50_c16_wrk", "p50 c16", "ms"),
    ("p99_c16_wrk", "p99 c16", "ms"),
    ("rps_c16", "req/s c16", "req/s"),
)


def _warm_rows(warm: dict) -> list[Row]:
    rows = []
    floor = warm["light floor"]
    for key, label, unit in WARM_METRICS:
        if "redis" in warm and key in warm["redis"]:
            rows.append(Row(f"bare Redis GET {label}", unit, warm["redis"][key]))
        rows.append(Row(f"light floor {label}", unit, floor[key], "redis", warm["redis"].get(key)))
        for name in ("submit", "status", "result", "graph cached plot", "plot floor"):
            target = WARM_TARGETS.get((name, key), "")
            rows.append(Row(f"{name} {label}", unit, warm[name][key], "light", floor[key], target))
        uncached, plot_floor = warm["graph uncached plot"][key], warm["plot floor"][key]
        rows.append(Row(f"graph uncached plot {label}", unit, uncached, "plot", plot_floor))
    return rows


def _plot_rows(plot: dict) -> list[Row]:
    return [
        Row("in-process floor (Figure, Agg, no layout engine)", "ms", plot["floor"]),
        Row("original's way (pyplot, tight_layout, dpi 150)", "ms", plot["original"], "floor", plot["floor"]),
        Row("graph uncached histogram p50", "ms", plot["graph"], "in-process", plot["floor"], "<= 1.1x"),
        Row("graph uncached histogram p50", "ms", plot["graph"], "original", plot["original"], "<= 0.5x"),
    ]


def _job_rows(jobs: dict) -> list[Row]:
    in_harness = [t - d for t, d in zip(jobs["turnaround_p50"], jobs["draw_p50"], strict=True)]
    histogram = jobs["histogram_p50"]
    return [
        Row("turnaround p50 (submit -> complete)", "ms", jobs["turnaround_p50"], target="< 100"),
        Row("turnaround p99", "ms", jobs["turnaround_p99"]),
        Row("render's own span p50 (in-progress -> complete, its clock)", "ms", jobs["span_p50"]),
        Row(
            "  against graph's uncached histogram", "ms", jobs["span_p50"], "histogram", histogram, "<= 0.5x"
        ),
        Row(
            "  against the same job drawn whole (harness)", "ms", jobs["span_p50"], "whole", jobs["draw_p50"]
        ),
        Row(
            "render's span p50, jobs of 2-6 random features",
            "ms",
            jobs["varied_span_p50"],
            "histogram",
            histogram,
            "<= 0.5x",
        ),
        Row(
            "render's span p50, the same with one value off the data's scale",
            "ms",
            jobs["off_scale_span_p50"],
            "histogram",
            histogram,
            "<= 0.5x",
        ),
        Row("the job drawn whole in the harness process p50", "ms", jobs["draw_p50"]),
        Row("graph's uncached histogram p50 (same rounds)", "ms", histogram),
        Row("job overhead: turnaround p50 - render's own p50", "ms", jobs["overhead_p50"], target="<= 25"),
        Row("job overhead against the harness draw (noisier)", "ms", in_harness),
    ]


def _first_job_rows(first: dict) -> list[Row]:
    return [
        Row(
            "render's span p50, its first 24 jobs from its port answering (one value off scale each)",
            "ms",
            first["first_span_p50"],
            "histogram",
            first["first_histogram_p50"],
            "<= 0.5x",
        ),
        Row("graph's uncached histogram p50 (same rounds)", "ms", first["first_histogram_p50"]),
    ]


def _store_rows(store: dict) -> list[Row]:
    def kib(name: str) -> list[float]:
        return [value / 1024 for value in store[name]]

    rows = []
    for count in (1, 2, 3, 6):
        rows += [
            Row(f"{count} feature(s): store bytes per job (its keys)", "KiB", kib(f"store_bytes_{count}")),
            Row(
                f"{count} feature(s): its picture, palette PNG",
                "KiB",
                kib(f"png_bytes_{count}"),
                "RGBA PNG",
                kib(f"rgba_png_bytes_{count}"),
            ),
        ]  # fmt: skip
    rows.append(
        Row(
            "store bytes per job, mean of 1, 2, 3, 6 features", "KiB", kib("store_bytes_mean"), target="<= 40"
        )
    )
    rows.append(Row("jobs per GiB of store (95% of maxmemory)", "jobs", store["jobs_per_gib"]))
    return rows


def _rss_rows(results: dict) -> list[Row]:
    limits = {"submit": "<= 60", "status": "<= 60", "graph": "<= 160", "render": "<= 160"}
    rows = [
        Row(f"{name} peak RSS", "MiB", [rss["peak_rss"]], target=limits.get(name, ""))
        for name, rss in results["rss"].items()
    ]
    rows += [
        Row(f"{name} PSS, master + worker", "MiB", [rss["tree_pss"]]) for name, rss in results["rss"].items()
    ]
    if "rss_after_scale" in results:
        after = results["rss_after_scale"]["graph"]["peak_rss"]
        rows.append(Row("graph peak RSS after the scale runs (1,000,000 rows)", "MiB", [after]))
    return rows


def _scale_rows(scale: dict) -> list[Row]:
    small, large = scale["569"], scale["1000000"]
    rows = []
    for count, figures in scale.items():
        if count == "routes":
            continue
        name = f"{int(count):,} rows"
        rows.append(Row(f"{name}: load into Redis", "s", figures["load_s"]))
        for plot in ("histogram", "scatter"):
            values, floor = figures[f"{plot}_ms"], small[f"{plot}_ms"]
            rows.append(Row(f"{name}: {plot} uncached", "ms", values, "569 rows", floor))
    rows += [
        Row(
            "1,000,000 rows: histogram",
            "ms",
            large["histogram_ms"],
            "569 rows",
            small["histogram_ms"],
            "<= 3x",
        ),
        Row("1,000,000 rows: scatter uncached", "ms", large["scatter_ms"], target="< 1500"),
        Row("1,000,000 rows: load", "s", large["load_s"], target="< 10"),
    ]
    return rows


def _route_rows(scale: dict) -> list[Row]:
    """Every graph route at 569 and 1,000,000 rows: uncached (after a load), then from the cache."""
    routes = scale.get("routes", {})
    small = routes.get("569", {})
    rows = []
    for count, figures in routes.items():
        for route, times in figures.items():
            for kind in ("uncached", "cached"):
                floor = small[route][f"{kind}_ms"] if count != "569" else None
                label = f"{int(count):,} rows: {route} {kind}"
                rows.append(Row(label, "ms", times[f"{kind}_ms"], "569 rows" if floor else "", floor))
    return rows


def _rows_rows(rows: dict) -> list[Row]:
    """/dataset/rows pages beside a cached plot, and the 1,000,000-row CSV export."""
    pages, export = rows["pages"], rows["export"]
    table = [Row("graph cached plot p50", "ms", pages["cached plot"])]
    table += [
        Row(f"rows {name} p50 (569 rows)", "ms", times, "cached plot", pages["cached plot"])
        for name, times in pages.items()
        if name != "cached plot"
    ]
    columns = [export["columns_mib"]]
    return [
        *table,
        Row("CSV export of 1,000,000 rows", "s", export["seconds"], "in-process", export["floor_seconds"]),
        Row("CSV export of 1,000,000 rows: size", "MB", export["megabytes"]),
        Row(
            "CSV export: graph peak RSS (fresh process)",
            "MiB",
            [export["peak_rss_mib"]],
            "its columns",
            columns,
        ),
    ]


def _cluster_rows(cluster: dict) -> list[Row]:
    units = {"jobs/s": "jobs/s", "bytes per job": "KiB", "per GiB": "jobs"}
    rows = []
    for figure, values in cluster.items():
        unit = next(u for suffix, u in units.items() if figure.endswith(suffix) or suffix in figure)
        rows.append(Row(figure, unit, [v / 1024 for v in values] if unit == "KiB" else values))
    return rows


SECTIONS = (
    ("Cold start: spawn -> first real answer", "cold", _cold_rows),
    ("Warm latency (c1: Python client; c16: wrk) and req/s (wrk -t1, 1 s; drawn 2 s)", "warm", _warm_rows),
    ("Uncached plot time (same histogram, 900x600 px)", "plot", _plot_rows),
    ("Job turnaround, warm", "jobs", _job_rows),
    ("A fresh render's first jobs, while it warms up", "first", _first_job_rows),
    ("What a finished job costs the store (bench/jobbytes.py)", "store", _store_rows),
    ("Peak memory (after the warm runs)", "rss", lambda _r: []),
    ("The data set over HTTP (bench/rows.py)", "rows", _rows_rows),
    ("Scale", "scale", _scale_rows),
    ("Every graph route: uncached after a load, then cached (/dataset: no cache)", "scale", _route_rows),
    ("One Redis node against a cluster of three shards (bench/cluster.py)", "cluster", _cluster_rows),
)
HEADER = ["figure", "median", "min-max", "floor (median)", "ratio", "target", ""]


def table(results: dict) -> tuple[list[str], list[str]]:
    """The markdown lines of the table, and the targets missed."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    missed = []
    for title, key, build in SECTIONS:
        if key not in results:
            continue
        lines.append(f"| **{title}** |" + " |" * (len(HEADER) - 1))
        rows = _rss_rows(results) if key == "rss" else build(results[key])
        for row in rows:
            cells = row.cells()
            lines.append("| " + " | ".join(cells) + " |")
            if cells[-1] == "**missed**":
                missed.append(f"{title}: {row.figure} ({cells[4] or cells[1]}, target {row.target})")
    return lines, missed


def render(results: dict, notes: str) -> str:
    m = results["machine"]
    lines, missed = table(results)
    out = [
        "# Benchmarks",
        "",
        f"Written by `{results['command']}` on {m['date']} in {results.get('total_seconds', 0):.0f} s "
        f"({results['rounds']} interleaved rounds; raw numbers in `bench/results.json`).",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']}, Python {m['python']}, {m['os']}, "
        f"{m['redis']}, {m['wrk']}; commit {m['commit']}; "
        f"load average at start {m['load_average_at_start']}. The machine is shared with other work, "
        "so each figure is measured beside its floor in the same run and the ratio is the median "
        "over rounds of figure / floor, paired by round.",
        "",
        "Floors: *hello world* is a functions-framework function and nothing else; the *light floor* "
        "imports redis and does one GET a request; the *plot floor* also imports numpy and matplotlib "
        "(Figure, Agg) and draws and PNG-encodes the same histogram (bench/floors/). Each is started the "
        "way the functions are, with the same THREADS. Cold-start RSS and per-round numbers are in the JSON.",
        "",
        *lines,
        "",
        "## Targets missed in this run",
        "",
        *([f"- {line}" for line in missed] or ["- none"]),
        *[f"- phase {name} failed: {why}" for name, why in results.get("failed", {}).items()],
        "",
        "## The app it replaces (issue 6)",
        "",
        *[f"- {name}: {value}" for name, value in ORIGINAL.items()],
        "",
        NOTES,
        notes,
    ]
    return "\n".join(out).rstrip() + "\n"


def write(results: dict, path: Path) -> None:
    notes = ""
    if path.exists():
        text = path.read_text()
        if NOTES in text:
            notes = text.split(NOTES, 1)[1].strip("\n")
    path.write_text(render(results, "\n" + notes if notes else ""))
