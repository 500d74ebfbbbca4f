"""The sample's marks on a panel: its line on a histogram, its star on the scatter.

A value within the data set's range is marked where it lies. A value above or below it is marked
just inside the panel's edge on its side, with a label saying which way and what it is
("20.0 →", "← 0.001", "↑ 15.0"), so the panel keeps the data's scale. The marks stay inside their
axes and are drawn above everything else, so a picture put together from kept backgrounds with
the marks drawn on top is the picture drawn whole, pixel for pixel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.picture.layout import AXES_BOX, MARK_ZORDER, STAR_SIZE, Data, Panel
from shared.picture.panels import x_limits, y_limits
from shared.plotting.plots import COLOURS

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes

#: How far inside the axes' edge an off-scale mark sits, in pixels: a line clear of the spine, a
#: star whole (its radius is about 11 pixels).
LINE_INSET, STAR_INSET = 4, 12
#: The arrow for each side, before or after the value.
ARROWS = {("x", "above"): "{} →", ("x", "below"): "← {}", ("y", "above"): "↑ {}", ("y", "below"): "↓ {}"}
LABEL = {
    "fontsize": "small",
    "bbox": {"boxstyle": "square,pad=0.25", "facecolor": "white", "edgecolor": "none"},
    "zorder": MARK_ZORDER,
}
#: How far a label sits from its mark, in points, toward the middle of the axes.
LABEL_OFFSET = 6


def readable(value: float) -> str:
    """A value as a person reads it: 1,000,000 / 20.0 / 1.25 / 0.00123."""
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _placed(value: float, where: str, limits: tuple[float, float], inset: float) -> float:
    """Where a mark goes on one axis: at ``value`` within the range, else ``inset`` (a fraction of the
    axis) inside the edge on its side."""
    low, high = limits
    if where == "above":
        return high - inset * (high - low)
    if where == "below":
        return low + inset * (high - low)
    return value


def draw_marks(axes: Axes, panel: Panel, sample: dict[str, float], data: Data) -> list[Artist]:
    """The sample's line or star on ``panel``'s axes (its limits already set), and for a value off the
    data's scale, its label; in the order they are drawn."""
    from shared.dataset.analysis import position  # the summary's own word for it (numpy: lazily)

    if panel.kind == "histogram":
        feature = panel.features[0]
        value, where = sample[feature], position(sample[feature], *data.ranges[feature])
        x = _placed(value, where, x_limits(panel, data), LINE_INSET / AXES_BOX[2])
        marks: list[Artist] = [axes.axvline(x, color=COLOURS["sample"], linewidth=2, zorder=MARK_ZORDER)]
        if where != "within":
            marks.append(_label(axes, [ARROWS["x", where].format(readable(value))], (x, 1.0), where, "above"))
        return marks
    x_feature, y_feature = panel.features
    (x_where, y_where) = (position(sample[f], *data.ranges[f]) for f in panel.features)
    x = _placed(sample[x_feature], x_where, x_limits(panel, data), STAR_INSET / AXES_BOX[2])
    y = _placed(sample[y_feature], y_where, y_limits(panel, data), STAR_INSET / AXES_BOX[3])
    star = axes.scatter(
        [x],
        [y],
        s=STAR_SIZE,
        marker="*",
        color=COLOURS["sample"],
        edgecolors="white",
        linewidths=1,
        zorder=MARK_ZORDER,
    )
    lines = [
        ARROWS[name, where].format(readable(sample[feature]))
        for name, feature, where in zip("xy", panel.features, (x_where, y_where), strict=True)
        if where != "within"
    ]
    if not lines:
        return [star]
    x_side = x_where if x_where != "within" else _half(axes, x, "x")
    y_side = y_where if y_where != "within" else _half(axes, y, "y")
    return [star, _label(axes, lines, (x, y), x_side, y_side, coordinates="data")]


def _half(axes: Axes, value: float, axis: str) -> str:
    """Which half of the axis ``value`` is in, as the side a label turns away from."""
    low, high = axes.get_xlim() if axis == "x" else axes.get_ylim()
    return "above" if value > (low + high) / 2 else "below"


def _label(
    axes: Axes,
    lines: list[str],
    at: tuple[float, float],
    x_side: str,
    y_side: str,
    coordinates: str = "histogram",
) -> Artist:
    """A small white-boxed label beside the mark at ``at``, turned toward the middle of the axes (away
    from the sides the mark is on). On a histogram ``at`` is (x in data, y in axes fraction)."""
    dx = -LABEL_OFFSET if x_side == "above" else LABEL_OFFSET
    dy = -LABEL_OFFSET if y_side == "above" else LABEL_OFFSET
    return axes.annotate(
        "\n".join(lines),
        at,
        xycoords=("data", "axes fraction") if coordinates == "histogram" else "data",
        xytext=(dx, dy),
        textcoords="offset points",
        ha="right" if x_side == "above" else "left",
        va="top" if y_side == "above" else "bottom",
        **LABEL,
    )
