"""What a finished job costs the store: every key it adds (hash, picture, summary, event marker).

Jobs of 1, 2, 3 and 6 features go through submit and render as in ``make dev``; the keys each
round adds are summed with ``MEMORY USAGE`` (Redis's own count, allocator overheads included)
and divided by the jobs. Beside each, the same picture as a full-colour PNG: what a job cost
before palette PNGs.
"""

from __future__ import annotations

import json

import numpy as np

from bench.context import Context
from bench.load import Connection
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import ColumnCache
from shared.dataset.features import FEATURES
from shared.renderer import draw
from shared.store.jobs import STORE_FILL_LIMIT, JobStore

FEATURE_COUNTS = (1, 2, 3, 6)
JOBS_PER_COUNT = 4
GIB = 2**30


def _samples(rng: np.random.Generator, count: int) -> list[dict[str, float]]:
    """Samples of ``count`` features at values drawn from the data set's own rows."""
    return [
        {FEATURES[i]: round(float(rng.uniform(0.05, 30)), 3) for i in rng.choice(30, count, replace=False)}
        for _ in range(JOBS_PER_COUNT)
    ]


def _full_colour_png_bytes(ctx: Context, job_ids: list[str]) -> float:
    """The mean size of the same jobs' pictures as full-colour RGBA PNGs."""
    jobs, columns = JobStore(ctx.client, 3600), ColumnCache(ctx.client, BUNDLED_DATASET)
    return float(np.mean([len(draw(jobs.get(job_id), columns, palette=False)[0]) for job_id in job_ids]))


def measure(ctx: Context, submit_port: int) -> dict[str, list[float]]:
    """Per round and feature count: store bytes per job, its picture's bytes, the full-colour bytes."""
    rng = np.random.default_rng(569)
    submit = Connection(submit_port)
    figures: dict[str, list[float]] = {}
    try:
        for _ in range(ctx.rounds):
            per_round = []
            for count in FEATURE_COUNTS:
                before = set(ctx.client.scan_iter(count=1000))
                job_ids = []
                for sample in _samples(rng, count):
                    code, body = submit.request(
                        "POST", "/submit", json.dumps(sample).encode(), {"Content-Type": "application/json"}
                    )
                    if code != 202 or json.loads(body)["status"] != "complete":
                        raise RuntimeError(f"submit answered {code}: {body[:200]!r}")
                    job_ids.append(json.loads(body)["job_id"])
                added = set(ctx.client.scan_iter(count=1000)) - before
                stored = sum(ctx.client.memory_usage(key, samples=0) or 0 for key in added) / len(job_ids)
                pictures = [len(ctx.client.get(JobStore.key(job_id, "png"))) for job_id in job_ids]
                figures.setdefault(f"store_bytes_{count}", []).append(stored)
                figures.setdefault(f"png_bytes_{count}", []).append(float(np.mean(pictures)))
                figures.setdefault(f"rgba_png_bytes_{count}", []).append(_full_colour_png_bytes(ctx, job_ids))
                per_round.append(stored)
            mean = float(np.mean(per_round))
            figures.setdefault("store_bytes_mean", []).append(mean)
            figures.setdefault("jobs_per_gib", []).append(GIB * STORE_FILL_LIMIT / mean)
    finally:
        submit.close()
    return figures
