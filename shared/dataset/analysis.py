"""The numbers behind every picture: histograms, scatter ranges, percentiles, nearest neighbours."""

from __future__ import annotations

from typing import Any

import numpy as np

NEIGHBOURS = 5
#: How the nearest cases are ordered when distances are equal.
TIE_RULE = "nearest first; equal distances: the lower case id first"
NOTE = (
    "Exploration of a public data set (Breast Cancer Wisconsin Diagnostic, 569 cases), "
    "not a diagnosis. Percentiles and neighbours describe where these measurements sit "
    "among the data set's cases; only a clinician can interpret them for a patient."
)


#: Above this many points a scatter is drawn as a density (2-D histogram), not point by point.
SCATTER_POINT_LIMIT = 20_000
#: Cells per axis of a density scatter's 2-D histogram.
DENSITY_GRID = 60
#: Points at which a violin's density is evaluated, and bins of the binned kernel density estimate.
VIOLIN_POINTS, KDE_BINS = 100, 1024
#: The most outliers (fliers) a box plot draws and lists per class; beyond it, evenly by rank.
MAX_FLIERS = 1000
#: Rows per chunk when summing cross-products for correlations (bounds the memory used).
CHUNK_ROWS = 65_536


def groups(malignant: np.ndarray, by_diagnosis: bool = True) -> dict[str, np.ndarray | None]:
    """Row selections per group: ``benign`` and ``malignant``, or ``all`` (None = every row)."""
    if by_diagnosis:
        return {"benign": ~malignant, "malignant": malignant}
    return {"all": None}


def _select(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    return values if mask is None else values[mask]


def histogram(
    values: np.ndarray,
    malignant: np.ndarray,
    bins: int,
    by_diagnosis: bool = True,
    value_range: tuple[float, float] | None = None,
    density: bool = False,
) -> dict[str, Any]:
    """Counts per bin over edges shared by both classes (numpy's edges over all rows, or ``value_range``).

    With ``density`` each group's ``heights`` integrate to 1 over the edges (numpy's ``density=True``).
    """
    edges = np.histogram_bin_edges(values, bins=bins, range=value_range)
    counts = {
        name: np.histogram(_select(values, mask), bins=edges)[0]
        for name, mask in groups(malignant, by_diagnosis).items()
    }
    numbers: dict[str, Any] = {
        "bins": bins,
        "edges": edges.tolist(),
        "counts": {name: c.tolist() for name, c in counts.items()},
    }
    if density:
        widths = np.diff(edges)
        numbers["heights"] = {
            name: (c / (c.sum() * widths) if c.sum() else np.zeros(bins)).tolist()
            for name, c in counts.items()
        }
    return numbers


def _range(values: np.ndarray) -> list[float]:
    return [float(values.min()), float(values.max())] if values.size else [0.0, 0.0]


def trend(x: np.ndarray, y: np.ndarray) -> dict[str, float] | None:
    """Least-squares line ``y = slope * x + intercept`` and Pearson's r (None for fewer than 2 points)."""
    if x.size < 2 or x.std() == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    r = float(np.corrcoef(x, y)[0, 1]) if y.std() else 0.0
    return {"slope": float(slope), "intercept": float(intercept), "r": r}


def density_grid(
    x: np.ndarray, y: np.ndarray, malignant: np.ndarray, by_diagnosis: bool, cells: int = DENSITY_GRID
) -> dict[str, Any]:
    """2-D histograms (one per group) over cells shared by every group."""
    x_edges = np.histogram_bin_edges(x, bins=cells)
    y_edges = np.histogram_bin_edges(y, bins=cells)
    counts = {
        name: np.histogram2d(_select(x, mask), _select(y, mask), bins=(x_edges, y_edges))[0]
        .astype(np.int64)
        .tolist()
        for name, mask in groups(malignant, by_diagnosis).items()
    }
    return {"x_edges": x_edges.tolist(), "y_edges": y_edges.tolist(), "counts": counts}


def scatter(
    x: np.ndarray,
    y: np.ndarray,
    malignant: np.ndarray,
    by_diagnosis: bool = True,
    with_trend: bool = False,
    point_limit: int = SCATTER_POINT_LIMIT,
) -> dict[str, Any]:
    """Point counts and ranges; trend lines per group; a 2-D histogram above ``point_limit`` points."""
    selections = groups(malignant, by_diagnosis)
    numbers: dict[str, Any] = {
        "points": {name: int(_select(x, mask).size) for name, mask in selections.items()},
        "x_range": _range(x),
        "y_range": _range(y),
        "mode": "density" if x.size > point_limit else "points",
        "point_limit": point_limit,
    }
    if with_trend:
        numbers["trend"] = {
            name: trend(_select(x, mask), _select(y, mask)) for name, mask in selections.items()
        }
    if numbers["mode"] == "density":
        numbers["grid"] = density_grid(x, y, malignant, by_diagnosis)
    return numbers


def box_stats(values: np.ndarray) -> dict[str, Any] | None:
    """Quartiles (numpy's linear percentiles), whiskers at 1.5 IQR, outliers, as matplotlib's bxp draws."""
    if values.size == 0:
        return None
    q1, median, q3 = (float(q) for q in np.percentile(values, [25, 50, 75]))
    iqr = q3 - q1
    inside = values[(values >= q1 - 1.5 * iqr) & (values <= q3 + 1.5 * iqr)]
    low, high = float(inside.min()), float(inside.max())
    outliers = np.sort(values[(values < low) | (values > high)])
    if outliers.size > MAX_FLIERS:
        outliers = outliers[np.linspace(0, outliers.size - 1, MAX_FLIERS).round().astype(int)]
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "min": float(values.min()),
        "q1": q1,
        "median": median,
        "q3": q3,
        "max": float(values.max()),
        "whisker_low": low,
        "whisker_high": high,
        "outliers": int(((values < low) | (values > high)).sum()),
        "fliers": outliers.tolist(),
    }


def kernel_density(values: np.ndarray, points: int = VIOLIN_POINTS) -> dict[str, list[float]]:
    """Gaussian kernel density (Scott's bandwidth, as matplotlib's violins) from a binned estimate.

    Binning the values first makes the cost follow the number of bins, not of rows.
    """
    low, high = float(values.min()), float(values.max())
    coords = np.linspace(low, high, points)
    spread = values.std(ddof=1) if values.size > 1 else 0.0
    bandwidth = spread * values.size ** (-1 / 5)
    if bandwidth == 0:
        return {"coords": coords.tolist(), "density": np.zeros(points).tolist()}
    counts, edges = np.histogram(values, bins=KDE_BINS, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    kernel = np.exp(-0.5 * ((coords[:, None] - centres[None, :]) / bandwidth) ** 2)
    density = kernel @ counts / (values.size * bandwidth * np.sqrt(2 * np.pi))
    return {"coords": coords.tolist(), "density": density.tolist()}


def box(values: np.ndarray, malignant: np.ndarray, violin: bool = False) -> dict[str, Any]:
    """Box statistics per diagnosis, and each class's kernel density for a violin."""
    numbers: dict[str, Any] = {"groups": {}}
    for name, mask in groups(malignant).items():
        selected = _select(values, mask)
        numbers["groups"][name] = box_stats(selected)
        if violin and selected.size:
            numbers["groups"][name]["kde"] = kernel_density(selected)
    return numbers


def correlation(columns: list[np.ndarray]) -> list[list[float | None]]:
    """Pearson correlations between columns, summed in chunks of rows (None where a column is constant)."""
    means = np.array([c.mean() for c in columns])
    products = np.zeros((len(columns), len(columns)))
    rows = columns[0].size if columns else 0
    for start in range(0, rows, CHUNK_ROWS):
        chunk = np.stack([c[start : start + CHUNK_ROWS] for c in columns]) - means[:, None]
        products += chunk @ chunk.T
    scale = np.sqrt(np.diag(products))
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.clip(products / np.outer(scale, scale), -1.0, 1.0)
    return [[float(v) if np.isfinite(v) else None for v in row] for row in matrix]


def describe(values: np.ndarray) -> dict[str, float | int | None]:
    """count, mean, std (ddof=1), min, quartiles and max: the numbers pandas ``describe`` gives."""
    if values.size == 0:
        return {"count": 0, **dict.fromkeys(("mean", "std", "min", "q1", "median", "q3", "max"))}
    q1, median, q3 = (float(q) for q in np.percentile(values, [25, 50, 75]))
    return {
        "count": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "min": float(values.min()),
        "q1": q1,
        "median": median,
        "q3": q3,
        "max": float(values.max()),
    }


def percentile(values: np.ndarray, value: float) -> float:
    """The percentage of ``values`` that are <= ``value`` (0 for an empty class)."""
    if values.size == 0:
        return 0.0
    return round(100.0 * float(np.count_nonzero(values <= value)) / values.size, 2)


def nearest_neighbours(
    sample: dict[str, float],
    columns: dict[str, np.ndarray],
    malignant: np.ndarray,
    k: int = NEIGHBOURS,
    ids: np.ndarray | None = None,
) -> dict[str, Any]:
    """Diagnoses of the k cases closest to the sample, each feature standardised (population std).

    Euclidean distance; equal distances: the lower case id first (the earlier row without ids).
    With ``ids``, ``cases`` names them, nearest first: ``[{"id", "diagnosis", "distance"}]``.
    """
    squared = np.zeros(malignant.size)
    for feature, value in sample.items():
        values = columns[feature]
        scale = values.std() or 1.0
        squared += ((values - value) / scale) ** 2  # the mean cancels out of the difference
    k = min(k, malignant.size)
    tie_break = np.arange(malignant.size) if ids is None else ids
    if k:  # only the rows within the k-th smallest distance need sorting
        candidates = np.flatnonzero(squared <= np.partition(squared, k - 1)[k - 1])
        nearest = candidates[np.lexsort((tie_break[candidates], squared[candidates]))][:k]
    else:
        nearest = np.array([], dtype=int)
    numbers: dict[str, Any] = {
        "k": k,
        "benign": int((~malignant[nearest]).sum()),
        "malignant": int(malignant[nearest].sum()),
    }
    if ids is not None:
        numbers["cases"] = [
            {
                "id": int(ids[row]),
                "diagnosis": "M" if malignant[row] else "B",
                "distance": float(np.sqrt(squared[row])),
            }
            for row in nearest
        ]
        numbers["tie_rule"] = TIE_RULE
    return numbers


def position(value: float, low: float, high: float) -> str:
    """Where ``value`` lies against a feature's range: ``within`` (either end included), ``above`` or
    ``below`` it."""
    if value > high:
        return "above"
    return "below" if value < low else "within"


def job_summary(
    job_id: str,
    sample: dict[str, float],
    columns: dict[str, np.ndarray],
    malignant: np.ndarray,
    ids: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per feature its value, percentiles, and position against the data set's range; the neighbours."""
    ranges = {feature: _range(columns[feature]) for feature in sample}
    return {
        "job_id": job_id,
        "features": {
            feature: {
                "value": value,
                "percentile": {
                    "benign": percentile(columns[feature][~malignant], value),
                    "malignant": percentile(columns[feature][malignant], value),
                },
                "position": position(value, *ranges[feature]),
                "range": ranges[feature],
            }
            for feature, value in sample.items()
        },
        "neighbours": nearest_neighbours(sample, columns, malignant, ids=ids),
        "note": NOTE,
    }
