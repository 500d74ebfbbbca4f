"""Job turnaround (submit -> complete, warm) beside render's own draw-and-encode time.

submit's K_SINK points at render itself, as in ``make dev``: its 202 comes once render has
answered the event, and one status read confirms the job is complete.
"""

from __future__ import annotations

import json
import time

from bench.context import SAMPLE, Context
from bench.load import Connection
from bench.stats import percentile
from shared.config import BUNDLED_DATASET
from shared.dataset import ColumnCache
from shared.jobs import COMPLETE, JobStore
from shared.renderer import draw

JOBS_PER_ROUND = 7


def one_job(submit: Connection, status: Connection) -> tuple[float, str]:
    """Milliseconds from sending the sample to reading status ``complete``; and the job id."""
    began = time.perf_counter()
    code, body = submit.request("POST", "/submit", SAMPLE, {"Content-Type": "application/json"})
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


def measure(ctx: Context, submit_port: int, status_port: int) -> tuple[dict[str, list[float]], str]:
    """Per round: turnaround p50 and p99; render's own in-progress -> complete span of the same jobs
    (draw, encode, summary: its own clock); and the same draw run in this process, interleaved."""
    jobs = JobStore(ctx.client, 3600)
    columns = ColumnCache(ctx.client, BUNDLED_DATASET)
    submit, status = Connection(submit_port), Connection(status_port)
    names = ("turnaround_p50", "turnaround_p99", "draw_p50", "span_p50", "overhead_p50")
    figures: dict[str, list[float]] = {name: [] for name in names}
    job_id = ""
    try:
        for _ in range(3):  # warm-up, unmeasured
            _, job_id = one_job(submit, status)
            draw(jobs.get(job_id), columns)
        for _ in range(ctx.rounds):
            turnarounds, draws, spans = [], [], []
            for _ in range(JOBS_PER_ROUND):
                elapsed, job_id = one_job(submit, status)
                turnarounds.append(elapsed)
                job = jobs.get(job_id)
                spans.append((job.finished_at - job.started_at) * 1000)
                began = time.perf_counter()
                draw(job, columns)
                draws.append((time.perf_counter() - began) * 1000)
            figures["turnaround_p50"].append(percentile(turnarounds, 50))
            figures["turnaround_p99"].append(percentile(turnarounds, 99))
            figures["draw_p50"].append(percentile(draws, 50))
            figures["span_p50"].append(percentile(spans, 50))
            # The same jobs on both sides: what turnaround adds to render's own drawing of each job.
            figures["overhead_p50"].append(percentile(turnarounds, 50) - percentile(spans, 50))
    finally:
        submit.close()
        status.close()
    return figures, job_id
