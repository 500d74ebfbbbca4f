"""`make bench`: start a private Redis and the functions, measure, write results.json and BENCHMARKS.md.

Usage: ``python -m bench.run [--rounds N] [--only PHASE ...]``. Every figure is measured beside
its floor in the same run, the rounds interleaved (A B A B), because the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import redis

from bench import cluster, coldstart, jobbytes, machine, plottime, report, rows, scale, turnaround, warm
from bench.context import Context
from bench.load import Connection, wrk_binary
from bench.services import peak_rss_mib, wait_idle
from devtools.devserver import ROOT, free_port, start_redis, stop
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file

PHASES = ("cold", "warm", "plot", "jobs", "first", "store", "rows", "scale", "cluster")
RESULTS = ROOT / "bench" / "results.json"


def _phase(results: dict, name: str, measure: Callable[[], object]) -> None:
    """Run one phase; a phase that fails is recorded as failed and the others still run."""
    began = time.perf_counter()
    print(f"bench: {name} ...", flush=True)
    try:
        results[name] = measure()
    except Exception as error:  # reported in BENCHMARKS.md; the other phases go on
        traceback.print_exc()
        results.setdefault("failed", {})[name] = f"{type(error).__name__}: {error}"
    results.setdefault("seconds", {})[name] = round(time.perf_counter() - began, 1)
    print(f"bench: {name} took {results['seconds'][name]:.0f} s", flush=True)


def run(rounds: int, phases: list[str], work: Path) -> dict:
    if "warm" in phases:
        wrk_binary()  # fail early, with how to install it (only the warm phase runs wrk)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # matplotlib's font cache is built once, as an image build would, and shared by every process.
    os.environ.setdefault("MPLCONFIGDIR", str(work / "matplotlib"))
    port = free_port()
    redis_process = start_redis(port, work / "redis")
    client = redis.Redis(port=port)
    ctx = Context(f"redis://127.0.0.1:{port}/0", port, work, rounds, client)
    results: dict = {"machine": machine.describe(), "rounds": rounds, "command": "make bench"}
    try:
        load_file(client, BUNDLED_DATASET)
        sink = ctx.warm("hello")  # the event sink that acknowledges at once, as a Broker does
        if "cold" in phases:
            _phase(results, "cold", lambda: coldstart.measure(ctx, sink.url))
        services = {name: ctx.warm(name) for name in ("status", "graph", "render", "light", "plot")}
        services["submit"] = ctx.warm("submit", K_SINK=sink.url)
        services["pipeline"] = ctx.warm("submit", K_SINK=services["render"].url)
        job_id = ""
        wait_idle(services["render"], quiet=2.0, timeout=60)  # its backgrounds' warm-up done
        if "jobs" in phases or "warm" in phases:
            _phase(
                results,
                "jobs",
                lambda: turnaround.measure(
                    ctx, services["pipeline"].port, services["status"].port, services["graph"].port
                )[0],
            )
            job_id = _completed_job(services["pipeline"].port, services["status"].port)
        if "first" in phases:
            _phase(results, "first", lambda: turnaround.first_jobs(ctx, services["graph"].port))
        if "store" in phases:
            _phase(results, "store", lambda: jobbytes.measure(ctx, services["pipeline"].port))
        if "warm" in phases:
            _phase(results, "warm", lambda: warm.measure(ctx, services, job_id))
        if "plot" in phases:
            _phase(results, "plot", lambda: plottime.measure(ctx, services["graph"].port))
        results["rss"] = {name: peak_rss_mib(service) for name, service in services.items()}
        if "rows" in phases:
            _phase(results, "rows", lambda: rows.measure(ctx, services["graph"].port))
        if "scale" in phases:
            _phase(results, "scale", lambda: scale.measure(ctx, services["graph"].port))
            results["scale_datasets"] = scale.DATASETS
            results["rss_after_scale"] = {"graph": peak_rss_mib(services["graph"])}
        if "cluster" in phases:
            _phase(results, "cluster", lambda: cluster.measure(ctx))
    finally:
        stop([service.process for service in ctx.services])
        stop([redis_process])
    return results


def _completed_job(submit_port: int, status_port: int) -> str:
    """A job rendered through submit and render, for the status and result figures."""
    submit, status = Connection(submit_port), Connection(status_port)
    try:
        return turnaround.one_job(submit, status)[1]
    finally:
        submit.close()
        status.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per figure (default 7)")
    parser.add_argument("--only", nargs="+", choices=PHASES, default=list(PHASES), help="phases to run")
    parser.add_argument("--work", type=Path, default=ROOT / ".bench", help="scratch folder (logs, data sets)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="raw numbers as JSON")
    arguments = parser.parse_args(argv)
    began = time.perf_counter()
    results = run(arguments.rounds, arguments.only, arguments.work)
    results["total_seconds"] = round(time.perf_counter() - began, 1)
    arguments.output.write_text(json.dumps(results, indent=1) + "\n")
    report.write(results, ROOT / "BENCHMARKS.md")
    print(f"bench: wrote {arguments.output} and BENCHMARKS.md in {results['total_seconds']:.0f} s")
    return 1 if results.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
