"""A scatter's background from its two axes: there are 870 ordered pairs of features but 30 x axes and
30 y axes, so each axis is kept as the bands of pixels it owns, and a new pair costs only its points.

A scatter's x limits depend only on the x feature's range and its y limits only on the y feature's,
so its x axis (ticks, labels and the bottom spine, below the axes) is the same for every y feature,
and its y axis (left of, above and right of the axes) for every x feature. The points keep clear of
the spines (matplotlib's 5% margins), so the bands and the points never share a pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.picture.layout import AXES_BOX, CELL_AXES, CELL_HEIGHT, CELL_WIDTH, Data, Panel, cell_figure
from shared.picture.panels import x_limits, y_limits
from shared.plotting.plots import draw_scatter

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import BufferRegion, FigureCanvasAgg

#: Each band's rectangles in a cell, (x1, y1, x2, y2) in pixels from the top left as Agg's regions
#: count them. SPINE_ROOM pixels of the axes' own edge go with them, so that they hold the spines;
#: the corner below and left of the axes is split at LABELS_ROW, where the x tick labels begin
#: (below the ticks and their pad, 7 points): above it the lowest y tick label may reach. Just
#: under the axes' lower left, between the y tick labels and the axes (TICKS_CORNER), the x tick
#: marks of a tick at the very left go: that corner is the x axis's.
SPINE_ROOM = 2
_LEFT, _BOTTOM, _WIDTH, _HEIGHT = AXES_BOX
_TOP = CELL_HEIGHT - _BOTTOM - _HEIGHT + SPINE_ROOM
_BASE = CELL_HEIGHT - _BOTTOM - SPINE_ROOM
_INNER_LEFT, _INNER_RIGHT = _LEFT + SPINE_ROOM, _LEFT + _WIDTH - SPINE_ROOM
LABELS_ROW = CELL_HEIGHT - _BOTTOM + 9
TICKS_CORNER = (_LEFT - 7, CELL_HEIGHT - _BOTTOM + 1, _INNER_LEFT, LABELS_ROW)
X_BAND = (
    (_INNER_LEFT, _BASE, CELL_WIDTH, CELL_HEIGHT),
    (0, LABELS_ROW, _INNER_LEFT, CELL_HEIGHT),
    TICKS_CORNER,
)
Y_BAND = (
    (0, 0, CELL_WIDTH, _TOP),
    (0, _TOP, _INNER_LEFT, TICKS_CORNER[1]),
    (0, TICKS_CORNER[1], TICKS_CORNER[0], LABELS_ROW),
    (_INNER_RIGHT, _TOP, CELL_WIDTH, _BASE),
)


@dataclass(frozen=True)
class Band:
    """One axis of a scatter, as pixels."""

    regions: tuple[BufferRegion, ...]


def _extents(rectangle: tuple[int, int, int, int]):
    """A rectangle counted from the top as the display's box, counted from the bottom."""
    from matplotlib.transforms import Bbox

    x1, y1, x2, y2 = rectangle
    return Bbox.from_extents(x1, CELL_HEIGHT - y2, x2, CELL_HEIGHT - y1)


def bands(axes: Axes, canvas: FigureCanvasAgg) -> tuple[Band | None, Band | None]:
    """The x and y bands of a drawn scatter; None for both unless each axis keeps to its own bands."""
    if not _apart(axes, canvas.get_renderer()):
        return None, None  # an axis in the other's band would go wherever that band went
    return (
        Band(tuple(canvas.copy_from_bbox(_extents(r)) for r in X_BAND)),
        Band(tuple(canvas.copy_from_bbox(_extents(r)) for r in Y_BAND)),
    )


def _apart(axes: Axes, renderer) -> bool:
    """Whether the x axis lies in its bands and the y axis in its own (boxes counted from the bottom)."""
    x_box, y_box = axes.xaxis.get_tightbbox(renderer), axes.yaxis.get_tightbbox(renderer)
    if x_box is None or y_box is None or axes.xaxis.get_offset_text().get_text():
        return False
    if axes.yaxis.get_offset_text().get_text():
        return False
    labels_top = CELL_HEIGHT - LABELS_ROW
    return (
        x_box.x0 >= 0
        and x_box.x1 <= CELL_WIDTH
        and x_box.y0 >= 0
        and x_box.y1 <= labels_top
        and all(x >= TICKS_CORNER[0] + 1 for x in _ticks(axes, "x"))  # left of it is the y axis's
        and all(y >= CELL_HEIGHT - TICKS_CORNER[1] + 1 for y in _ticks(axes, "y"))  # under it, the x's
        and y_box.x0 >= 0
        and y_box.x1 <= _INNER_LEFT
        and y_box.y0 >= labels_top
        and y_box.y1 <= CELL_HEIGHT
    )


def _ticks(axes: Axes, axis: str) -> list[float]:
    """Where the axis's tick marks within its limits are, in pixels of the cell from its lower left."""
    low, high = axes.get_xlim() if axis == "x" else axes.get_ylim()
    ticks = axes.get_xticks() if axis == "x" else axes.get_yticks()
    at = 0 if axis == "x" else 1
    return [axes.transData.transform((t, t))[at] for t in ticks if low <= t <= high]


class Composer:
    """A cell's canvas on which a scatter's background is put together from its bands and points."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        figure = cell_figure()
        self.axes = figure.add_axes(CELL_AXES, frameon=False)
        self.axes.set_axis_off()
        self.canvas = FigureCanvasAgg(figure)
        self.canvas.draw()
        self.blank = self.canvas.copy_from_bbox(figure.bbox)

    def scatter(self, panel: Panel, x_band: Band, y_band: Band, data: Data) -> FigureCanvasAgg:
        """The canvas holding ``panel``'s scatter, until the next call; its axes at the panel's limits."""
        axes = self.axes
        self.canvas.restore_region(self.blank)
        axes.set_xlim(x_limits(panel, data))
        axes.set_ylim(y_limits(panel, data))
        x_feature, y_feature = panel.features
        draw_scatter(axes, data.columns[x_feature], data.columns[y_feature], data.malignant)
        for points in list(axes.collections):
            axes.draw_artist(points)
            points.remove()
        for region in (*x_band.regions, *y_band.regions):
            self.canvas.restore_region(region)
        return self.canvas
