"""The numbers behind every picture: histograms, scatter ranges, percentiles, nearest neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np

NEIGHBOURS = 5
NOTE = (
    "Exploration of a public data set (Breast Cancer Wisconsin Diagnostic, 569 cases), "
    "not a diagnosis. Percentiles and neighbours describe where these measurements sit "
    "among the data set's cases; only a clinician can interpret them for a patient."
)


def histogram(
    values: np.ndarray, malignant: np.ndarray, bins: int, by_diagnosis: bool = True
) -> dict[str, Any]:
    """Counts per bin over edges shared by both classes (numpy's edges over all rows)."""
    edges = np.histogram_bin_edges(values, bins=bins)
    if by_diagnosis:
        counts = {
            "benign": np.histogram(values[~malignant], bins=edges)[0].tolist(),
            "malignant": np.histogram(values[malignant], bins=edges)[0].tolist(),
        }
    else:
        counts = {"all": np.histogram(values, bins=edges)[0].tolist()}
    return {"bins": bins, "edges": edges.tolist(), "counts": counts}


def scatter(x: np.ndarray, y: np.ndarray, malignant: np.ndarray) -> dict[str, Any]:
    return {
        "points": {"benign": int((~malignant).sum()), "malignant": int(malignant.sum())},
        "x_range": [float(x.min()), float(x.max())],
        "y_range": [float(y.min()), float(y.max())],
    }


def percentile(values: np.ndarray, value: float) -> float:
    """The percentage of ``values`` that are <= ``value`` (0 for an empty class)."""
    if values.size == 0:
        return 0.0
    return round(100.0 * float(np.count_nonzero(values <= value)) / values.size, 2)


def nearest_neighbours(
    sample: dict[str, float], columns: dict[str, np.ndarray], malignant: np.ndarray, k: int = NEIGHBOURS
) -> dict[str, int]:
    """Diagnoses of the k cases closest to the sample, each feature standardised (population std)."""
    distance = np.zeros(malignant.size)
    for feature, value in sample.items():
        values = columns[feature]
        scale = values.std() or 1.0
        distance += ((values - value) / scale) ** 2  # the mean cancels out of the difference
    k = min(k, malignant.size)
    nearest = np.argpartition(distance, k - 1)[:k] if k else np.array([], dtype=int)
    return {"k": k, "benign": int((~malignant[nearest]).sum()), "malignant": int(malignant[nearest].sum())}


def job_summary(
    job_id: str, sample: dict[str, float], columns: dict[str, np.ndarray], malignant: np.ndarray
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "features": {
            feature: {
                "value": value,
                "percentile": {
                    "benign": percentile(columns[feature][~malignant], value),
                    "malignant": percentile(columns[feature][malignant], value),
                },
            }
            for feature, value in sample.items()
        },
        "neighbours": nearest_neighbours(sample, columns, malignant),
        "note": NOTE,
    }
