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

    wheres = [position(sample[f], *data.ranges[f]) for f in panel.features]
    if panel.kind == "histogram":
        return _line(axes, sample[panel.features[0]], wheres[0], x_limits(panel, data))
    return _star(
        axes, [sample[f] for f in panel.features], wheres, (x_limits(panel, data), y_limits(panel, data))
    )


def _line(axes: Axes, value: float, where: str, limits: tuple[float, float]) -> list[Artist]:
    """A histogram's line at ``value``, or at the edge with its label."""
    x = _placed(value, where, limits, LINE_INSET / AXES_BOX[2])
    marks: list[Artist] = [axes.axvline(x, color=COLOURS["sample"], linewidth=2, zorder=MARK_ZORDER)]
    if where != "within":  # the label hangs from the top of the axes, on the line's inner side
        marks.append(_label(axes, [ARROWS["x", where].format(readable(value))], (x, 1.0), (where, "above")))
    return marks


def _star(
    axes: Axes, values: list[float], wheres: list[str], limits: tuple[tuple[float, float], ...]
) -> list[Artist]:
    """The scatter's star at (x, y), at the edge of each axis it is off, with one label for both."""
    insets = (STAR_INSET / AXES_BOX[2], STAR_INSET / AXES_BOX[3])
    x, y = (_placed(*args) for args in zip(values, wheres, limits, insets, strict=True))
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
        ARROWS[name, where].format(readable(value))
        for name, value, where in zip("xy", values, wheres, strict=True)
        if where != "within"
    ]
    if not lines:
        return [star]
    sides = tuple(
        where if where != "within" else _half(at, axis_limits)
        for where, at, axis_limits in zip(wheres, (x, y), limits, strict=True)
    )
    return [star, _label(axes, lines, (x, y), sides, coordinates="data")]


def _half(value: float, limits: tuple[float, float]) -> str:
    """Which half of an axis ``value`` is in, as the side a label turns away from."""
    low, high = limits
    return "above" if value > (low + high) / 2 else "below"


def _label(
    axes: Axes,
    lines: list[str],
    at: tuple[float, float],
    sides: tuple[str, str],
    coordinates: str = "histogram",
) -> Artist:
    """A small white-boxed label beside the mark at ``at``, turned toward the middle of the axes (away
    from the ``sides``, x and y, the mark is on). On a histogram ``at`` is (x in data, y in axes
    fraction)."""
    x_side, y_side = sides
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
