"""Pictures of the data set, drawn with matplotlib's object API and the Agg canvas (no pyplot).

matplotlib is imported on first use, so a function that serves only cached plots never pays for it.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Okabe-Ito colours, distinguishable with every common colour-vision deficiency.
COLOURS = {"benign": "#0072B2", "malignant": "#D55E00", "all": "#555555", "sample": "#000000"}
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_DPI = 900, 600, 100
#: Colour maps: a sequential one for densities and a diverging one (ColorBrewer RdBu) for correlations.
DENSITY_CMAP, CORRELATION_CMAP = "viridis", "RdBu_r"
#: matplotlib's bxp names for the statistics of ``analysis.box``, and those a violin takes as they are.
BXP_STATISTICS = {"med": "median", "q1": "q1", "q3": "q3", "whislo": "whisker_low", "whishi": "whisker_high",
                  "fliers": "fliers", "mean": "mean"}  # fmt: skip
VIOLIN_STATISTICS = ("mean", "median", "min", "max")
#: Correlation heatmaps write each value in its cell up to this many features.
ANNOTATE_UP_TO = 12

#: (width, height, dpi) of a picture in pixels and dots per inch.
Size = tuple[int, int, int]
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def label(feature: str) -> str:
    """``concave_points_worst`` -> ``Concave points (worst)``."""
    measurement, statistic = feature.rsplit("_", 1)
    statistic = {"se": "standard error"}.get(statistic, statistic)
    return f"{measurement.replace('_', ' ').capitalize()} ({statistic})"


def axis_label(feature: str) -> str:
    """The full name with its unit: ``Area (mean) [px²]``."""
    from shared.dataset.features import unit

    return f"{label(feature)} [{unit(feature)}]" if unit(feature) else label(feature)


def new_figure(
    width: int = DEFAULT_WIDTH,
    height: int = DEFAULT_HEIGHT,
    dpi: int = DEFAULT_DPI,
    layout: str | None = "constrained",
) -> Figure:
    """A figure of exactly ``width`` x ``height`` pixels; ``layout=None`` for a fixed grid (much faster)."""
    import matplotlib
    from matplotlib.figure import Figure

    # Name the backend (cheap when already set): box plots read every rcParam, and reading an
    # unresolved backend makes matplotlib import pyplot to resolve it.
    matplotlib.use("agg")

    # A hair over the size in inches, so that Agg's rounding down still gives exactly width x height.
    return Figure(figsize=((width + 1e-6) / dpi, (height + 1e-6) / dpi), dpi=dpi, layout=layout)


def fixed_margins(
    figure: Figure,
    left: float = 0.75,
    right: float = 0.2,
    bottom: float = 0.55,
    top: float = 0.4,
    **space: float,
) -> None:
    """Margins in inches (so they scale with dpi) instead of constrained layout, which measures every
    label on every draw: a third of a histogram's time and a fifth of a job picture's (BENCHMARKS.md)."""
    width, height = figure.get_size_inches()
    figure.subplots_adjust(
        left=min(left / width, 0.35),
        right=1 - min(right / width, 0.1),
        bottom=min(bottom / height, 0.35),
        top=1 - min(top / height, 0.25),
        **space,
    )


def encode(figure: Figure, image_format: str) -> bytes:
    """The figure as PNG (Agg) or SVG bytes."""
    buffer = io.BytesIO()
    if image_format == "png":
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(figure).print_png(buffer)
        return buffer.getvalue()
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(figure).print_svg(buffer, metadata={"Date": None})
    return buffer.getvalue()


def draw_histogram(axes: Axes, numbers: dict[str, Any], heights: str = "counts") -> None:
    """Each group's bars from ``analysis.histogram``: ``counts``, or ``heights`` for densities."""
    from matplotlib.ticker import EngFormatter

    for group, values in numbers[heights].items():
        axes.stairs(values, numbers["edges"], fill=True, alpha=0.55, color=COLOURS[group], label=group)
    axes.set_ylabel("density" if heights == "heights" else "cases")
    if heights == "counts":
        axes.yaxis.set_major_formatter(EngFormatter(sep=""))  # 150000 -> 150k


def histogram(
    feature: str, numbers: dict[str, Any], size: Size, image_format: str = "png", log: bool = False
) -> bytes:
    """One feature's histogram (benign and malignant overlaid, or all rows), from ``analysis.histogram``."""
    figure = new_figure(*size, layout=None)
    fixed_margins(figure)
    axes = figure.add_subplot()
    draw_histogram(axes, numbers, "heights" if "heights" in numbers else "counts")
    if log:
        axes.set_yscale("log")
    axes.set_xlabel(axis_label(feature))
    axes.set_title(numbers["title"])
    axes.legend(title="diagnosis")
    return encode(figure, image_format)


def draw_scatter(axes: Axes, x: np.ndarray, y: np.ndarray, malignant: np.ndarray | None) -> None:
    """Every point, coloured by diagnosis (or grey when ``malignant`` is None)."""
    size = 10 if x.size <= 2000 else 3
    if malignant is None:
        axes.scatter(x, y, s=size, alpha=0.6, color=COLOURS["all"], label="all", linewidths=0)
        return
    for group, mask in (("benign", ~malignant), ("malignant", malignant)):
        axes.scatter(x[mask], y[mask], s=size, alpha=0.6, color=COLOURS[group], label=group, linewidths=0)


def _draw_density(axes: Axes, grid: dict[str, Any], colourbar: bool = True) -> None:
    """A 2-D histogram. By diagnosis: each cell's colour is its benign/malignant mix, its opacity
    the number of cases (log scale). For all rows: a sequential colour map with a colour bar."""
    import numpy as np
    from matplotlib.colors import LogNorm, to_rgb

    x_edges, y_edges = grid["x_edges"], grid["y_edges"]
    counts = {group: np.asarray(c, dtype=float) for group, c in grid["counts"].items()}
    total = sum(counts.values())
    if set(counts) == {"all"}:
        mesh = axes.pcolormesh(
            x_edges,
            y_edges,
            np.ma.masked_equal(total, 0).T,
            cmap=DENSITY_CMAP,
            norm=LogNorm(vmin=1, vmax=max(total.max(), 2.0)),
        )
        if colourbar:
            axes.figure.colorbar(mesh, ax=axes, label="cases per cell", shrink=0.8)
        return
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, counts["malignant"] / total, 0.0)
    rgba = np.zeros((*total.shape, 4))
    benign, malignant = np.array(to_rgb(COLOURS["benign"])), np.array(to_rgb(COLOURS["malignant"]))
    rgba[..., :3] = (1 - share)[..., None] * benign + share[..., None] * malignant
    rgba[..., 3] = np.where(total > 0, 0.2 + 0.8 * np.log1p(total) / np.log1p(max(total.max(), 1.0)), 0.0)
    axes.imshow(
        rgba.transpose(1, 0, 2),
        origin="lower",
        extent=(x_edges[0], x_edges[-1], y_edges[0], y_edges[-1]),
        aspect="auto",
        interpolation="nearest",
    )


def _legend_handles(groups: list[str], marker: str = "s") -> list:
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], color=COLOURS[g], marker=marker, linestyle="", markersize=8, label=g) for g in groups
    ]


def _draw_trends(axes: Axes, trends: dict[str, Any], x_range: list[float]) -> None:
    import numpy as np

    xs = np.asarray(x_range)
    for group, line in trends.items():
        if line is not None:
            axes.plot(
                xs,
                line["slope"] * xs + line["intercept"],
                color=COLOURS[group],
                linestyle="--",
                linewidth=1.8,
                label=f"trend ({group}), r = {line['r']:.2f}",
            )


def scatter(
    x_feature: str,
    y_feature: str,
    x: np.ndarray,
    y: np.ndarray,
    malignant: np.ndarray | None,
    numbers: dict[str, Any],
    size: Size,
    image_format: str = "png",
) -> bytes:
    """Points by diagnosis, or a density (2-D histogram) when ``numbers["mode"]`` says so; trend lines."""
    figure = new_figure(*size)
    axes = figure.add_subplot()
    groups = list(numbers["points"])
    if numbers["mode"] == "density":
        _draw_density(axes, numbers["grid"])
        handles = _legend_handles(groups) if groups != ["all"] else []
    else:
        draw_scatter(axes, x, y, malignant)
        handles = _legend_handles(groups, marker="o")
    if "trend" in numbers:
        _draw_trends(axes, numbers["trend"], numbers["x_range"])
        handles += [h for h in axes.get_legend_handles_labels()[0] if h.get_label().startswith("trend")]
    axes.set_xlabel(axis_label(x_feature))
    axes.set_ylabel(axis_label(y_feature))
    axes.set_title(numbers["title"])
    if handles:
        axes.legend(handles=handles, title="diagnosis", fontsize="small")
    return encode(figure, image_format)


def box(feature: str, numbers: dict[str, Any], size: Size, image_format: str = "png") -> bytes:
    """Box or violin plots (``numbers["kind"]``) of one feature, one per diagnosis, from ``analysis.box``."""
    figure = new_figure(*size)
    axes = figure.add_subplot()
    groups = {g: s for g, s in numbers["groups"].items() if s is not None}
    positions = list(range(1, len(groups) + 1))
    draw = _draw_violins if numbers["kind"] == "violin" else _draw_boxes
    draw(axes, groups, positions)
    axes.set_xticks(positions, [f"{g}\n(n = {s['count']:,})" for g, s in groups.items()])
    axes.set_ylabel(axis_label(feature))
    axes.set_title(numbers["title"])
    return encode(figure, image_format)


def _draw_boxes(axes: Axes, groups: dict[str, dict[str, Any]], positions: list[int]) -> None:
    """A box per group: quartiles, 1.5 IQR whiskers, fliers and a diamond at the mean."""
    drawn = axes.bxp(
        [{theirs: s[ours] for theirs, ours in BXP_STATISTICS.items()} for s in groups.values()],
        positions=positions,
        patch_artist=True,
        showmeans=True,
        flierprops={"markersize": 3, "alpha": 0.5},
        medianprops={"color": "#000000"},
        meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "#000000"},
    )
    for patch, group in zip(drawn["boxes"], groups, strict=True):
        patch.set_facecolor(COLOURS[group])
        patch.set_alpha(0.6)


def _draw_violins(axes: Axes, groups: dict[str, dict[str, Any]], positions: list[int]) -> None:
    """A violin per group (its kernel density), with its extremes, median and a bar from q1 to q3."""
    drawn = axes.violin(
        [
            {
                "coords": s["kde"]["coords"],
                "vals": s["kde"]["density"],
                **{k: s[k] for k in VIOLIN_STATISTICS},
            }
            for s in groups.values()
        ],
        positions=positions,
        showmedians=True,
    )
    for body, group in zip(drawn["bodies"], groups, strict=True):
        body.set_facecolor(COLOURS[group])
        body.set_edgecolor(COLOURS[group])
        body.set_alpha(0.6)
    for part in ("cbars", "cmins", "cmaxes", "cmedians"):
        drawn[part].set_color("#333333")
    for position, s in zip(positions, groups.values(), strict=True):
        axes.vlines(position, s["q1"], s["q3"], color="#333333", linewidth=5)


def correlation(numbers: dict[str, Any], size: Size, image_format: str = "png") -> bytes:
    """A heatmap of Pearson correlations, values written in the cells when there are few features."""
    import numpy as np

    features = numbers["features"]
    matrix = np.array([[np.nan if v is None else v for v in row] for row in numbers["matrix"]])
    figure = new_figure(*size)
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap=CORRELATION_CMAP, vmin=-1, vmax=1)
    figure.colorbar(image, ax=axes, label="Pearson r", shrink=0.8)
    fontsize = "medium" if len(features) <= ANNOTATE_UP_TO else "x-small"
    names = [label(f) for f in features]
    axes.set_xticks(range(len(features)), names, rotation=90, fontsize=fontsize)
    axes.set_yticks(range(len(features)), names, fontsize=fontsize)
    if numbers["annotated"]:
        for (row, column), value in np.ndenumerate(matrix):
            text = "–" if np.isnan(value) else f"{value:.2f}"
            colour = "white" if abs(value) > 0.6 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize="small", color=colour)
    axes.set_title(numbers["title"])
    return encode(figure, image_format)


def pairs(
    data: dict[str, np.ndarray],
    malignant: np.ndarray,
    numbers: dict[str, Any],
    size: Size,
    image_format: str,
    panels: Mapping[tuple[str, str], dict[str, Any]] | None = None,
) -> bytes:
    """A pair plot: histograms by diagnosis on the diagonal, scatter plots elsewhere.

    In density mode each scatter panel is instead its grid in ``panels``, keyed (x feature, y
    feature) and already oriented for it (``graphs.pair_panels``).
    """
    features = numbers["features"]
    n = len(features)
    # A fixed grid: constrained layout would measure every one of the n x n panels' labels.
    figure = new_figure(*size, layout=None)
    fixed_margins(figure, left=0.8, right=0.15, bottom=1.2, top=0.7, wspace=0.3, hspace=0.3)
    grid = figure.subplots(n, n, squeeze=False)
    for row, y_feature in enumerate(features):
        for column, x_feature in enumerate(features):
            axes = grid[row][column]
            if row == column:
                draw_histogram(axes, numbers["histograms"][x_feature])
                axes.set_ylabel("")
            elif numbers["mode"] == "density":
                _draw_density(axes, panels[x_feature, y_feature], colourbar=False)
            else:
                draw_scatter(axes, data[x_feature], data[y_feature], malignant)
            if row == n - 1:
                axes.set_xlabel(axis_label(x_feature), fontsize="small")
            if column == 0:
                axes.set_ylabel(axis_label(y_feature), fontsize="small")
            axes.tick_params(labelsize="x-small")
    figure.suptitle(numbers["title"])
    figure.legend(
        handles=_legend_handles(["benign", "malignant"]), loc="lower center", ncols=2, fontsize="small"
    )
    return encode(figure, image_format)
