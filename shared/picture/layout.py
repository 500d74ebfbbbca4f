"""A job's picture: where the sample sits among the diagnosed cases, a panel per feature plus a scatter.

Every panel sits in a cell of the same size at a whole-pixel offset, so a panel's data-set part
(the distributions, axes, ticks and labels) gives the same pixels wherever it is drawn. ``full`` draws
the whole figure at once; ``backgrounds.Backgrounds`` keeps each panel's part and adds only the marks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.plotting.plots import COLOURS, axis_label, new_figure

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.legend import Legend

#: The most histogram panels a job's picture shows; further features are in its JSON summary.
MAX_PANELS = 6
#: A panel's cell in pixels, and its axes' box inside the cell (left, bottom, width, height).
CELL_WIDTH, CELL_HEIGHT = 360, 300
AXES_BOX = (72, 60, 276, 212)
#: The same box as fractions of a one-cell figure (``cell_figure``), for ``Figure.add_axes``.
CELL_AXES = (
    AXES_BOX[0] / CELL_WIDTH,
    AXES_BOX[1] / CELL_HEIGHT,
    AXES_BOX[2] / CELL_WIDTH,
    AXES_BOX[3] / CELL_HEIGHT,
)
#: The picture's white margin left and right, and the title band above the cells.
SIDE_MARGIN, TITLE_HEIGHT = 20, 60
#: Where each legend goes: a fixed place, so that it never depends on where the sample falls.
HISTOGRAM_LEGEND, SCATTER_LEGEND = "upper right", "upper left"
FILL_ALPHA, POINT_ALPHA = 0.55, 0.6
GROUPS = ("benign", "malignant")
#: The sample on the scatter, and in its legend.
STAR_SIZE = 260  # points squared
LEGEND_ZORDER = 5


@dataclass(frozen=True)
class Panel:
    """One panel: a histogram of ``features[0]``, or a scatter of ``features[1]`` against ``features[0]``."""

    kind: str  # "histogram" or "scatter"
    features: tuple[str, ...]
    legend: bool


@dataclass(frozen=True)
class Data:
    """What a job's picture is drawn from: the feature columns, which rows are malignant, and each
    feature's histogram (``analysis.histogram``)."""

    columns: dict[str, np.ndarray]
    malignant: np.ndarray
    histograms: dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """The cells of a picture with ``panels`` panels, up to three across."""

    panels: int

    @property
    def across(self) -> int:
        return min(3, math.ceil(math.sqrt(self.panels)))

    @property
    def down(self) -> int:
        return math.ceil(self.panels / self.across)

    @property
    def size(self) -> tuple[int, int]:
        return CELL_WIDTH * self.across + 2 * SIDE_MARGIN, CELL_HEIGHT * self.down + TITLE_HEIGHT

    def cell_origin(self, index: int) -> tuple[int, int]:
        """The lower-left pixel of cell ``index`` (row by row from the top), y counted from the bottom."""
        row, column = divmod(index, self.across)
        return SIDE_MARGIN + CELL_WIDTH * column, CELL_HEIGHT * (self.down - 1 - row)

    def cell_corner(self, index: int) -> tuple[int, int]:
        """The upper-left pixel of cell ``index``, y counted from the top (where Agg restores a region)."""
        x, y = self.cell_origin(index)
        return x, self.size[1] - y - CELL_HEIGHT

    def axes_rect(self, index: int) -> tuple[float, float, float, float]:
        """Cell ``index``'s axes as fractions of the figure, for ``Figure.add_axes``."""
        width, height = self.size
        x, y = self.cell_origin(index)
        left, bottom, box_width, box_height = AXES_BOX
        return (x + left) / width, (y + bottom) / height, box_width / width, box_height / height


def cell_figure() -> Figure:
    """A figure of one cell, where a panel's background is drawn (its axes at ``CELL_AXES``)."""
    return new_figure(CELL_WIDTH, CELL_HEIGHT, layout=None)


def panels(sample: dict[str, float]) -> list[Panel]:
    """A histogram per feature (up to MAX_PANELS), then a scatter of the first two; legends on the
    first histogram and on the scatter."""
    features = list(sample)
    shown = [Panel("histogram", (f,), index == 0) for index, f in enumerate(features[:MAX_PANELS])]
    if len(features) >= 2:
        shown.append(Panel("scatter", (features[0], features[1]), True))
    return shown


def title(malignant_size: int) -> str:
    return f"Your sample among the {malignant_size:,} diagnosed cases (exploration, not a diagnosis)"


def draw_data(axes: Axes, panel: Panel, data: Data) -> None:
    """The panel's data-set part, its legend included: what every sample's picture of it shares."""
    from shared.plotting.plots import _draw_histogram, _draw_scatter

    if panel.kind == "histogram":
        _draw_histogram(axes, data.histograms[panel.features[0]])
        axes.set_xlabel(axis_label(panel.features[0]))
    else:
        x_feature, y_feature = panel.features
        _draw_scatter(axes, data.columns[x_feature], data.columns[y_feature], data.malignant)
        axes.set_xlabel(axis_label(x_feature))
        axes.set_ylabel(axis_label(y_feature))
    if panel.legend:
        draw_legend(axes, panel.kind)


def draw_legend(axes: Axes, kind: str) -> Legend:
    """The diagnoses' colours and the sample's mark: opaque, square and with a crisp frame, so that
    none of its pixels depends on what lies beneath it, and in a fixed place, so that it never
    depends on the data."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if kind == "histogram":
        handles = [Patch(facecolor=COLOURS[g], alpha=FILL_ALPHA, label=g) for g in GROUPS]
        handles.append(Line2D([], [], color=COLOURS["sample"], linewidth=2, label="your sample"))
    else:
        handles = [
            Line2D([], [], color=COLOURS[g], alpha=POINT_ALPHA, marker="o", linestyle="", label=g)
            for g in GROUPS
        ]
        star = {"marker": "*", "color": COLOURS["sample"], "markeredgecolor": "white", "markeredgewidth": 1}
        handles.append(
            Line2D([], [], linestyle="", markersize=math.sqrt(STAR_SIZE), label="your sample", **star)
        )
    loc = HISTOGRAM_LEGEND if kind == "histogram" else SCATTER_LEGEND
    legend = axes.legend(handles=handles, loc=loc, fontsize="small", framealpha=1, fancybox=False)
    legend.get_frame().set_antialiased(False)
    return legend


def draw_marks(axes: Axes, panel: Panel, sample: dict[str, float]) -> Artist:
    """The sample's line on a histogram or its star on the scatter, beneath the legend."""
    if panel.kind == "histogram":
        return axes.axvline(
            sample[panel.features[0]], color=COLOURS["sample"], linewidth=2, zorder=LEGEND_ZORDER - 1
        )
    x_feature, y_feature = panel.features
    return axes.scatter(
        [sample[x_feature]],
        [sample[y_feature]],
        s=STAR_SIZE,
        marker="*",
        color=COLOURS["sample"],
        edgecolors="white",
        linewidths=1,
        zorder=LEGEND_ZORDER - 1,
    )


def full(sample: dict[str, float], data: Data) -> Figure:
    """The whole picture drawn at once: the reference the cached backgrounds must reproduce."""
    shown = panels(sample)
    layout = Layout(len(shown))
    figure = new_figure(*layout.size, layout=None)
    figure.suptitle(title(data.malignant.size))
    for index, panel in enumerate(shown):
        axes = figure.add_axes(layout.axes_rect(index))
        draw_data(axes, panel, data)
        draw_marks(axes, panel, sample)
    return figure
