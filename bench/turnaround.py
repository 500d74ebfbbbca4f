"""Job turnaround (submit -> complete, warm) beside render's own draw-and-encode time.

submit's K_SINK points at render itself, as in ``make dev``: its 202 comes once render has
answered the event, and one status read confirms the job is complete. render composes each
picture from its cached backgrounds; beside it, in the same rounds: the same job drawn whole in
this process, jobs of 2 to 6 features picked at random (within their ranges, and with one value off
the data's scale), and graph's uncached histogram. And ``first_jobs``: a fresh render's first jobs,
each with a value off the scale, sent the moment its port answers, while it warms up.
"""

from __future__ import annotations

import json
import time

import numpy as np
from cloudevents.conversion import to_binary

from bench.context import SAMPLE, Context
from bench.load import Connection, Target, latency_series
from bench.plottime import PATH as HISTOGRAM_PATH
from bench.stats import percentile
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import ColumnCache
from shared.dataset.csv_file import read_dataset_csv
from shared.dataset.features import FEATURES
from shared.renderer import draw
from shared.store.jobs import COMPLETE, JobStore
from shared.web.events import job_submitted

JOBS_PER_ROUND = 7
#: A fresh render's first jobs, in a round of ``first_jobs``; its rounds at most (each starts a
#: render and takes some 15 s).
FIRST_JOBS, FIRST_ROUNDS = 24, 3


def varied_samples(count: int, seed: int = 30, off_scale: bool = False) -> list[bytes]:
    """Samples of 2 to 6 features picked at random, each value within its feature's range; with
    ``off_scale``, one of them above or below it (from 0 to 1,000,000: any valid value)."""
    columns = read_dataset_csv(BUNDLED_DATASET).columns
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(count):
        chosen = [FEATURES[i] for i in rng.choice(len(FEATURES), size=rng.integers(2, 7), replace=False)]
        sample = {f: float(rng.uniform(columns[f].min(), columns[f].max())) for f in chosen}
        if off_scale:
            feature = chosen[int(rng.integers(len(chosen)))]
            low, high = float(columns[feature].min()), float(columns[feature].max())
            sample[feature] = (
                float(rng.uniform(0, low)) if rng.random() < 0.5 else float(rng.uniform(high, 1e6))
            )
        samples.append(json.dumps(sample).encode())
    return samples


def one_job(submit: Connection, status: Connection, sample: bytes = SAMPLE) -> tuple[float, str]:
    """Milliseconds from sending the sample to reading status ``complete``; and the job id."""
    began = time.perf_counter()
    code, body = submit.request("POST", "/submit", sample, {"Content-Type": "application/json"})
    if code != 202:
        raise RuntimeError(f"submit answered {code}: {body[:200]!r}")
    job_id = json.loads(body)["job_id"]
    while True:
        answer = json.loads(status.request("GET", f"/status/{job_id}")[1])
        if answer["status"] == COMPLETE:
            return (time.perf_counter() - began) * 1000, job_id
        if answer["status"] == "failed":
            raise RuntimeError(f"job {job_id} failed: {answer.get('error')}")
        time.sleep(0.001)


def _span(jobs: JobStore, job_id: str) -> float:
    job = jobs.get(job_id)
    return (job.finished_at - job.started_at) * 1000


def measure(
    ctx: Context, submit_port: int, status_port: int, graph_port: int
) -> tuple[dict[str, list[float]], str]:
    """Per round: turnaround p50 and p99; render's own in-progress -> complete span of the same jobs
    (draw, encode, summary: its own clock); the same job drawn whole in this process, interleaved;
    spans of jobs of 2 to 6 random features, in range and with one value off the scale; graph's
    uncached histogram."""
    jobs = JobStore(ctx.client, 3600)
    columns = ColumnCache(ctx.client, BUNDLED_DATASET)
    submit, status = Connection(submit_port), Connection(status_port)
    histogram = Target("graph uncached plot", graph_port, lambda _i: HISTOGRAM_PATH)
    varied = iter(varied_samples(JOBS_PER_ROUND * ctx.rounds))
    off_scale = iter(varied_samples(JOBS_PER_ROUND * ctx.rounds, seed=31, off_scale=True))
    names = (
        "turnaround_p50",
        "turnaround_p99",
        "draw_p50",
        "span_p50",
        "overhead_p50",
        "varied_span_p50",
        "off_scale_span_p50",
        "histogram_p50",
    )
    figures: dict[str, list[float]] = {name: [] for name in names}
    job_id = ""
    try:
        for _ in range(3):  # warm-up, unmeasured
            _, job_id = one_job(submit, status)
            draw(jobs.get(job_id), columns)
        for _ in range(ctx.rounds):
            turnarounds, draws, spans, varied_spans, off_scale_spans, histograms = [], [], [], [], [], []
            for _ in range(JOBS_PER_ROUND):
                elapsed, job_id = one_job(submit, status)
                turnarounds.append(elapsed)
                spans.append(_span(jobs, job_id))
                began = time.perf_counter()
                draw(jobs.get(job_id), columns)  # no backgrounds: the whole drawing
                draws.append((time.perf_counter() - began) * 1000)
                varied_spans.append(_span(jobs, one_job(submit, status, next(varied))[1]))
                off_scale_spans.append(_span(jobs, one_job(submit, status, next(off_scale))[1]))
                ctx.forget_plots()
                histograms.extend(latency_series(histogram, 1))
            figures["turnaround_p50"].append(percentile(turnarounds, 50))
            figures["turnaround_p99"].append(percentile(turnarounds, 99))
            figures["draw_p50"].append(percentile(draws, 50))
            figures["span_p50"].append(percentile(spans, 50))
            figures["varied_span_p50"].append(percentile(varied_spans, 50))
            figures["off_scale_span_p50"].append(percentile(off_scale_spans, 50))
            figures["histogram_p50"].append(percentile(histograms, 50))
            # The same jobs on both sides: what turnaround adds to render's own drawing of each job.
            figures["overhead_p50"].append(percentile(turnarounds, 50) - percentile(spans, 50))
    finally:
        submit.close()
        status.close()
    return figures, job_id


def first_jobs(ctx: Context, graph_port: int) -> dict[str, list[float]]:
    """Per round (FIRST_ROUNDS at most), a fresh render: its span p50 over its FIRST_JOBS first jobs,
    each with one value off the data's scale, sent one after another from the moment its port
    answers (its warm-up runs meanwhile), beside graph's uncached histogram p50 in the same round."""
    jobs = JobStore(ctx.client, 3600)
    histogram = Target("graph uncached plot", graph_port, lambda _i: HISTOGRAM_PATH)
    rounds = min(ctx.rounds, FIRST_ROUNDS)
    samples = iter(varied_samples(FIRST_JOBS * rounds, seed=32, off_scale=True))
    figures: dict[str, list[float]] = {"first_span_p50": [], "first_histogram_p50": []}
    for _ in range(rounds):
        render = ctx.warm("render")
        connection = Connection(render.port)
        spans, histograms = [], []
        try:
            for _ in range(FIRST_JOBS):
                sample = json.loads(next(samples))
                job = jobs.create(sample)
                headers, body = to_binary(job_submitted(job.job_id, sample, {}))
                code, answer = connection.request("POST", "/", body, headers)
                if code != 200 or jobs.get(job.job_id).status != COMPLETE:
                    raise RuntimeError(f"render answered {code}: {answer[:200]!r}")
                spans.append(_span(jobs, job.job_id))
                ctx.forget_plots()
                histograms.extend(latency_series(histogram, 1))
        finally:
            connection.close()
            render.stop()
            ctx.services.remove(render)
        figures["first_span_p50"].append(percentile(spans, 50))
        figures["first_histogram_p50"].append(percentile(histograms, 50))
    return figures
