"""The histogram two ways: the floor (Figure + Agg, no layout engine) and the original app's way.

Both draw the benign and malignant counts of one feature over shared edges, with labels, a
title and a legend, and encode a PNG; only how matplotlib is driven differs.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

COLOURS = {"benign": "#0072B2", "malignant": "#D55E00"}


def _groups(values: np.ndarray, malignant: np.ndarray, bins: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    edges = np.histogram_bin_edges(values, bins=bins)
    counts = {
        "benign": np.histogram(values[~malignant], bins=edges)[0],
        "malignant": np.histogram(values[malignant], bins=edges)[0],
    }
    return edges, counts


def floor_histogram_png(
    values: np.ndarray, malignant: np.ndarray, bins: int, width: int = 900, height: int = 600, dpi: int = 100
) -> bytes:
    """The least matplotlib needs for this picture: a Figure, fixed margins, the Agg canvas."""
    edges, counts = _groups(values, malignant, bins)
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.92)
    axes = figure.add_subplot()
    for group, group_counts in counts.items():
        axes.stairs(group_counts, edges, fill=True, alpha=0.55, color=COLOURS[group], label=group)
    axes.set_xlabel("Radius (mean)")
    axes.set_ylabel("cases")
    axes.set_title(f"Radius (mean) by diagnosis ({bins} bins)")
    axes.legend(title="diagnosis")
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def original_histogram_png(values: np.ndarray, malignant: np.ndarray, bins: int) -> bytes:
    """The replaced app's way: pyplot, hist, tight_layout, savefig at dpi 150 (900x600 pixels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.figure(figsize=(6, 4))
    plt.hist(values[~malignant], bins=bins, alpha=0.55, color=COLOURS["benign"], label="benign")
    plt.hist(values[malignant], bins=bins, alpha=0.55, color=COLOURS["malignant"], label="malignant")
    plt.xlabel("Radius (mean)")
    plt.ylabel("cases")
    plt.title(f"Radius (mean) by diagnosis ({bins} bins)")
    plt.legend(title="diagnosis")
    plt.tight_layout()
    buffer = io.BytesIO()
    plt.savefig(buffer, format="png", dpi=150)
    plt.close()
    return buffer.getvalue()
