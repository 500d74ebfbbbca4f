"""Pictures of the data set, drawn with matplotlib's object API and the Agg canvas (no pyplot).

matplotlib is imported on first use, so a function that serves only cached plots never pays for it.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Okabe-Ito colours, distinguishable with every common colour-vision deficiency.
COLOURS = {"benign": "#0072B2", "malignant": "#D55E00", "all": "#555555", "sample": "#000000"}
#: The most histogram panels a job's picture shows; further features are in its JSON summary.
MAX_PANELS = 6
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_DPI = 900, 600, 100


def label(feature: str) -> str:
    """``concave_points_worst`` -> ``Concave points (worst)``."""
    measurement, statistic = feature.rsplit("_", 1)
    statistic = {"se": "standard error"}.get(statistic, statistic)
    return f"{measurement.replace('_', ' ').capitalize()} ({statistic})"


def new_figure(width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT, dpi: int = DEFAULT_DPI) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")


def png_bytes(figure: Figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _draw_histogram(axes: Axes, numbers: dict[str, Any]) -> None:
    for group, counts in numbers["counts"].items():
        axes.stairs(counts, numbers["edges"], fill=True, alpha=0.55, color=COLOURS[group], label=group)
    axes.set_ylabel("cases")


def histogram_png(feature: str, numbers: dict[str, Any], size: tuple[int, int, int] | None = None) -> bytes:
    """A histogram of one feature, benign and malignant overlaid, from ``analysis.histogram``."""
    figure = new_figure(*(size or ()))
    axes = figure.add_subplot()
    _draw_histogram(axes, numbers)
    axes.set_xlabel(label(feature))
    axes.set_title(f"{label(feature)} by diagnosis ({numbers['bins']} bins)")
    axes.legend(title="diagnosis")
    return png_bytes(figure)


def _draw_scatter(axes: Axes, x: np.ndarray, y: np.ndarray, malignant: np.ndarray) -> None:
    for group, mask in (("benign", ~malignant), ("malignant", malignant)):
        axes.scatter(x[mask], y[mask], s=10, alpha=0.6, color=COLOURS[group], label=group, linewidths=0)


def scatter_png(
    x_feature: str,
    y_feature: str,
    x: np.ndarray,
    y: np.ndarray,
    malignant: np.ndarray,
    size: tuple[int, int, int] | None = None,
) -> bytes:
    figure = new_figure(*(size or ()))
    axes = figure.add_subplot()
    _draw_scatter(axes, x, y, malignant)
    axes.set_xlabel(label(x_feature))
    axes.set_ylabel(label(y_feature))
    axes.set_title(f"{label(y_feature)} against {label(x_feature)}")
    axes.legend(title="diagnosis")
    return png_bytes(figure)


def job_png(
    sample: dict[str, float],
    columns: dict[str, np.ndarray],
    malignant: np.ndarray,
    histograms: dict[str, Any],
) -> bytes:
    """Where the sample sits: a histogram panel per feature (up to MAX_PANELS), plus a scatter."""
    shown = list(sample)[:MAX_PANELS]
    panels = len(shown) + (1 if len(sample) >= 2 else 0)
    across = min(3, math.ceil(math.sqrt(panels)))
    down = math.ceil(panels / across)
    figure = new_figure(360 * across + 40, 300 * down + 60)
    figure.suptitle("Your sample among the 569 diagnosed cases (exploration, not a diagnosis)")
    for index, feature in enumerate(shown, start=1):
        axes = figure.add_subplot(down, across, index)
        _draw_histogram(axes, histograms[feature])
        axes.axvline(sample[feature], color=COLOURS["sample"], linewidth=2, label="your sample")
        axes.set_xlabel(label(feature))
        if index == 1:
            axes.legend(fontsize="small")
    if len(sample) >= 2:
        x_feature, y_feature = list(sample)[:2]
        axes = figure.add_subplot(down, across, panels)
        _draw_scatter(axes, columns[x_feature], columns[y_feature], malignant)
        axes.scatter(
            [sample[x_feature]],
            [sample[y_feature]],
            marker="*",
            s=260,
            color=COLOURS["sample"],
            edgecolors="white",
            linewidths=1,
            label="your sample",
            zorder=3,
        )
        axes.set_xlabel(label(x_feature))
        axes.set_ylabel(label(y_feature))
        axes.legend(fontsize="small")
    return png_bytes(figure)
