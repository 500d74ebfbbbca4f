"""A panel's data-set part: a feature's histogram by diagnosis, or the scatter of two features.

Its axes limits come from the data set alone (a histogram's bin edges, a scatter's two ranges, each
with matplotlib's usual 5% margin), never from a sample: so the part is the same for every sample,
and a value off the data's scale is marked at the panel's edge (``marks``) instead of squeezing it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.picture.layout import Data, Panel
from shared.plotting.plots import axis_label, draw_histogram, draw_scatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: matplotlib's own margin around the data (``axes.xmargin``, ``axes.ymargin``).
MARGIN = 0.05
#: The axis labels' size: small enough that the longest feature's name keeps to its scatter band
#: (at the default size, texture_se's and fractal_dimension_se's y labels reached the x band).
LABEL_SIZE = "small"


def with_margins(low: float, high: float) -> tuple[float, float]:
    """A data range widened by MARGIN each side (a single value by half a unit, as numpy's bins are)."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    pad = MARGIN * (high - low)
    return low - pad, high + pad


def x_limits(panel: Panel, data: Data) -> tuple[float, float]:
    """The panel's x limits: the histogram's bin edges, or the x feature's range, with margins."""
    if panel.kind == "histogram":
        edges = data.histograms[panel.features[0]]["edges"]
        return with_margins(edges[0], edges[-1])
    return with_margins(*data.ranges[panel.features[0]])


def y_limits(panel: Panel, data: Data) -> tuple[float, float] | None:
    """A scatter's y limits (the y feature's range with margins); None for a histogram's counts."""
    return with_margins(*data.ranges[panel.features[1]]) if panel.kind == "scatter" else None


def draw_panel(axes: Axes, panel: Panel, data: Data) -> None:
    """The panel's data-set part, at limits fixed by the data set: what every sample's picture shares."""
    if panel.kind == "histogram":
        draw_histogram(axes, data.histograms[panel.features[0]])
        axes.set_xlabel(axis_label(panel.features[0]), fontsize=LABEL_SIZE)
        axes.set_ylabel(axes.get_ylabel(), fontsize=LABEL_SIZE)
    else:
        x_feature, y_feature = panel.features
        draw_scatter(axes, data.columns[x_feature], data.columns[y_feature], data.malignant)
        axes.set_xlabel(axis_label(x_feature), fontsize=LABEL_SIZE)
        axes.set_ylabel(axis_label(y_feature), fontsize=LABEL_SIZE)
    axes.set_xlim(x_limits(panel, data))
    y = y_limits(panel, data)
    if y is not None:
        axes.set_ylim(y)
