"""Plot floor for graph and render: the light floor plus numpy and matplotlib (Figure, Agg).

Each request reads the data set's radius column and diagnosis from Redis and draws and
PNG-encodes the same histogram as ``GET /graph/histogram`` (bench.drawing does the drawing).
"""

import os

import functions_framework
import numpy as np
import redis

from bench.drawing import floor_histogram_png

REDIS = redis.Redis.from_url(os.environ["REDIS_URL"])
PREFIX = "tumorscope:dataset"


@functions_framework.http
def plot(request):
    version = (REDIS.get(f"{PREFIX}:current") or b"").decode()
    feature = request.args.get("feature", "radius_mean")
    column = f"{PREFIX}:{{{version}}}"  # a version's columns share its hash tag (shared/dataset/columns.py)
    values, diagnosis = REDIS.mget(f"{column}:{feature}", f"{column}:diagnosis")
    malignant = np.frombuffer(diagnosis, dtype=np.uint8).astype(bool)
    bins = int(request.args.get("bins", 10))
    png = floor_histogram_png(np.frombuffer(values, dtype="<f8"), malignant, bins)
    return (png, 200, {"Content-Type": "image/png"})
