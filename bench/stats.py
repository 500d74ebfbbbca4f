"""Medians, percentiles and paired ratios over the benchmark's rounds."""

from __future__ import annotations

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
    """Median, min and max over the rounds."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def paired_ratio(figure: Sequence[float], floor: Sequence[float]) -> float:
    """Median over the rounds of figure / floor, each pair measured in the same round."""
    return statistics.median(f / g for f, g in zip(figure, floor, strict=True) if g)
