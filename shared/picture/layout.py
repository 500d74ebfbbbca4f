"""A job's picture laid out: which panels it shows, the cells they sit in, the frame around them
(the title and the one legend), and the ``Data`` every panel is drawn from.

Every panel sits in a cell of the same size at a whole-pixel offset, so a panel's data-set part
(the distributions, axes, ticks and labels) gives the same pixels wherever it is drawn. The frame
is the same for every picture of a layout: the legend sits in its own strip under the title, where
neither data nor a sample's mark can ever be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.plotting.plots import COLOURS, new_figure

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

#: The most histogram panels a job's picture shows; further features are in its JSON summary.
MAX_PANELS = 6
#: Bins of each feature's histogram panel.
HISTOGRAM_BINS = 20
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
#: The picture's white margin left and right; the frame above the cells: the title, then the
#: legend's strip (pixels from the top to each one's middle). A picture one cell wide has its
#: title on two lines, TITLE_LINE pixels apart.
SIDE_MARGIN, FRAME_HEIGHT = 20, 64
TITLE_ROW, LEGEND_ROW, TITLE_LINE = 16, 46, 16
FILL_ALPHA = 0.55
GROUPS = ("benign", "malignant")
#: The sample's star on the scatter (points squared), and the sample's marks above everything else.
STAR_SIZE = 260
MARK_ZORDER = 10


@dataclass(frozen=True)
class Panel:
    """One panel: a histogram of ``features[0]``, or a scatter of ``features[1]`` against ``features[0]``."""

    kind: str  # "histogram" or "scatter"
    features: tuple[str, ...]


@dataclass(frozen=True)
class Data:
    """What a job's picture is drawn from: the feature columns, which rows are malignant, each
    feature's range [min, max] and each shown feature's histogram (``analysis.histogram``)."""

    columns: dict[str, np.ndarray]
    malignant: np.ndarray
    ranges: dict[str, tuple[float, float]]
    histograms: dict[str, dict]


def picture_data(columns: dict[str, np.ndarray], malignant: np.ndarray, features: list[str]) -> Data:
    """The ``Data`` of a picture showing ``features``: each one's range, and its histogram, worked out
    here once (the histogram panels of the first MAX_PANELS; all of them for a warm-up)."""
    from shared.dataset import analysis

    return Data(
        columns,
        malignant,
        {f: (float(columns[f].min()), float(columns[f].max())) for f in features},
        {f: analysis.histogram(columns[f], malignant, HISTOGRAM_BINS) for f in features},
    )


@dataclass(frozen=True)
class Layout:
    """The cells of a picture with ``panels`` panels, up to three across, under the frame."""

    panels: int

    @property
    def across(self) -> int:
        return min(3, math.ceil(math.sqrt(self.panels)))

    @property
    def down(self) -> int:
        return math.ceil(self.panels / self.across)

    @property
    def frame_height(self) -> int:
        return FRAME_HEIGHT + (TITLE_LINE if self.across == 1 else 0)

    @property
    def size(self) -> tuple[int, int]:
        return CELL_WIDTH * self.across + 2 * SIDE_MARGIN, CELL_HEIGHT * self.down + self.frame_height

    @property
    def has_scatter(self) -> bool:
        return self.panels > 1  # two features or more: their histograms and the scatter

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


def panels(sample: dict[str, float]) -> list[Panel]:
    """A histogram per feature (up to MAX_PANELS), then a scatter of the first two."""
    features = list(sample)
    shown = [Panel("histogram", (f,)) for f in features[:MAX_PANELS]]
    if len(features) >= 2:
        shown.append(Panel("scatter", (features[0], features[1])))
    return shown


def title(cases: int, lines: int = 1) -> str:
    """The picture's title, on one line or two."""
    parts = f"Your sample among the {cases:,} diagnosed cases", "(exploration, not a diagnosis)"
    return (" " if lines == 1 else "\n").join(parts)


def cell_figure() -> Figure:
    """A figure of one cell, where a panel's data-set part is drawn (its axes at ``CELL_AXES``)."""
    return new_figure(CELL_WIDTH, CELL_HEIGHT, layout=None)


def frame(layout: Layout, cases: int) -> Figure:
    """A layout's empty figure with its frame: the title, and the legend in its strip beneath."""
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    width, height = layout.size
    figure = new_figure(width, height, layout=None)
    lines = 1 if layout.across > 1 else 2
    title_row, legend_row = TITLE_ROW + (lines - 1) * TITLE_LINE / 2, LEGEND_ROW + (lines - 1) * TITLE_LINE
    figure.text(0.5, 1 - title_row / height, title(cases, lines), ha="center", va="center", fontsize="medium")
    handles: list = [Patch(facecolor=COLOURS[g], alpha=FILL_ALPHA, label=g) for g in GROUPS]
    sample: tuple = (Line2D([], [], color=COLOURS["sample"], linewidth=2),)
    if layout.has_scatter:
        star = {"marker": "*", "color": COLOURS["sample"], "markeredgecolor": "white", "markeredgewidth": 1}
        sample += (Line2D([], [], linestyle="", markersize=math.sqrt(STAR_SIZE), **star),)
    figure.legend(
        [*handles, sample],
        [*GROUPS, "your sample"],
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0.6)},
        loc="center",
        bbox_to_anchor=(0.5, 1 - legend_row / height),
        ncols=3,
        frameon=False,
        fontsize="small",
    )
    return figure
