"""Medians, percentiles and paired ratios over the benchmark's rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks, as numpy's default."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median, min and max over the rounds (rounds without a value, NaN, left out)."""
    kept = [v for v in values if not math.isnan(v)] or [math.nan]
    return {"median": statistics.median(kept), "min": min(kept), "max": max(kept), "n": len(kept)}


def paired_ratio(figure: Sequence[float], floor: Sequence[float]) -> float:
    """Median over the rounds of figure / floor, each pair measured in the same round."""
    pairs = [f / g for f, g in zip(figure, floor, strict=True) if g and not math.isnan(f / g)]
    return statistics.median(pairs) if pairs else math.nan
