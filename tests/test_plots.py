"""Pictures: drawn from the numbers analysis gives, at exactly the requested size, PNG or SVG."""

from __future__ import annotations

import io
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from shared.config import BUNDLED_DATASET
from shared.dataset import analysis
from shared.dataset.features import FEATURES, csv_name
from shared.plotting import plots

FRAME = pd.read_csv(BUNDLED_DATASET).rename(columns={csv_name(f): f for f in FEATURES})
MALIGNANT = (FRAME["diagnosis"] == "M").to_numpy()
COLUMNS = {f: FRAME[f].to_numpy() for f in FEATURES}
SIZES = [(900, 600, 100), (777, 555, 133), (200, 150, 50)]


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def has_colour(image: Image.Image, hex_colour: str, tolerance: int = 6) -> bool:
    """Whether some pixel is (within ``tolerance``) the given colour, as drawn at full opacity or blended."""
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    target = (np.array(to_rgb(hex_colour)) * 255).round().astype(int)
    return bool((np.abs(pixels - target).max(axis=1) <= tolerance).any())


def blended(hex_colour: str, alpha: float) -> str:
    """The colour a fill of ``hex_colour`` at ``alpha`` shows on white."""
    rgb = np.array(to_rgb(hex_colour)) * alpha + (1 - alpha)
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def histogram_numbers(**options) -> dict:
    numbers = analysis.histogram(COLUMNS["radius_mean"], MALIGNANT, 15, **options)
    return {**numbers, "title": "Radius (mean) by diagnosis"}


@pytest.mark.parametrize("size", SIZES)
def test_every_picture_has_exactly_the_requested_size(size: tuple[int, int, int]) -> None:
    scatter = analysis.scatter(COLUMNS["radius_mean"], COLUMNS["texture_mean"], MALIGNANT, with_trend=True)
    box = analysis.box(COLUMNS["area_mean"], MALIGNANT, violin=True)
    features = ["radius_mean", "texture_mean", "area_mean"]
    pictures = {
        "histogram": plots.histogram("radius_mean", histogram_numbers(), size),
        "scatter": plots.scatter(
            "radius_mean",
            "texture_mean",
            COLUMNS["radius_mean"],
            COLUMNS["texture_mean"],
            MALIGNANT,
            {**scatter, "title": "t"},
            size,
        ),
        "box": plots.box("area_mean", {**box, "kind": "box", "title": "t"}, size),
        "violin": plots.box("area_mean", {**box, "kind": "violin", "title": "t"}, size),
        "correlation": plots.correlation(
            {
                "features": features,
                "matrix": analysis.correlation([COLUMNS[f] for f in features]),
                "annotated": True,
                "title": "t",
            },
            size,
        ),
        "pairs": plots.pairs(
            COLUMNS,
            MALIGNANT,
            {
                "features": features[:2],
                "mode": "points",
                "histograms": {f: analysis.histogram(COLUMNS[f], MALIGNANT, 20) for f in features[:2]},
                "title": "t",
            },
            size,
            "png",
        ),
    }
    for name, png in pictures.items():
        assert decode(png).size == size[:2], name


def test_histograms_use_the_colour_blind_safe_colours_per_diagnosis() -> None:
    by_diagnosis = decode(plots.histogram("radius_mean", histogram_numbers(), (900, 600, 100)))
    assert has_colour(by_diagnosis, blended(plots.COLOURS["benign"], 0.55))
    assert has_colour(by_diagnosis, blended(plots.COLOURS["malignant"], 0.55))

    everything = decode(
        plots.histogram("radius_mean", histogram_numbers(by_diagnosis=False), (900, 600, 100))
    )
    assert has_colour(everything, blended(plots.COLOURS["all"], 0.55))
    assert not has_colour(everything, blended(plots.COLOURS["malignant"], 0.55))


def test_svg_is_the_requested_size_in_points() -> None:
    svg = plots.histogram("radius_mean", histogram_numbers(), (800, 500, 100), image_format="svg")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert float(root.get("width").removesuffix("pt")) == pytest.approx(800 / 100 * 72, abs=0.01)
    assert float(root.get("height").removesuffix("pt")) == pytest.approx(500 / 100 * 72, abs=0.01)
    assert b"Radius (mean) [px]" in svg  # the axis names the feature and its unit


def test_a_density_scatter_draws_the_2d_histogram() -> None:
    numbers = analysis.scatter(COLUMNS["radius_mean"], COLUMNS["concavity_mean"], MALIGNANT, point_limit=100)
    png = plots.scatter(
        "radius_mean",
        "concavity_mean",
        COLUMNS["radius_mean"],
        COLUMNS["concavity_mean"],
        MALIGNANT,
        {**numbers, "title": "density"},
        (600, 400, 100),
    )
    image = decode(png)
    assert image.size == (600, 400)
    # Cells that hold only one class show its colour (opacity grows with the count).
    only_benign = np.array(numbers["grid"]["counts"]["benign"]) * (
        np.array(numbers["grid"]["counts"]["malignant"]) == 0
    )
    assert only_benign.max() > 0
    assert has_colour(image, plots.COLOURS["benign"], tolerance=60)


def test_labels_spell_out_the_feature_and_its_unit() -> None:
    assert plots.label("concave_points_worst") == "Concave points (worst)"
    assert plots.axis_label("area_se") == "Area (standard error) [px²]"
    assert plots.axis_label("smoothness_mean") == "Smoothness (mean)"


def test_drawing_never_imports_pyplot() -> None:
    plots.histogram("radius_mean", histogram_numbers(), (300, 200, 100))
    assert "matplotlib.pyplot" not in sys.modules


def test_each_pair_panel_gets_the_grid_its_own_axes_give() -> None:
    """graphs.pair_panels turns the JSON's one grid per pair into a grid per panel, x feature on x."""
    from shared.plotting.graphs import PAIR_DENSITY_GRID, pair_panels

    a, b, c = "radius_mean", "concavity_mean", "texture_worst"

    def grid(x: str, y: str) -> dict:
        return analysis.density_grid(COLUMNS[x], COLUMNS[y], MALIGNANT, True, PAIR_DENSITY_GRID)

    panels = pair_panels({"grids": {f"{a}|{b}": grid(a, b), f"{a}|{c}": grid(a, c), f"{b}|{c}": grid(b, c)}})

    assert set(panels) == {(a, b), (b, a), (a, c), (c, a), (b, c), (c, b)}
    for (x, y), cells in panels.items():
        assert cells == grid(x, y), (x, y)


def test_a_density_pair_plot_draws_its_panels_grids() -> None:
    from shared.plotting.graphs import PAIR_DENSITY_GRID, pair_panels

    features = ["radius_mean", "concavity_mean"]
    x, y = (COLUMNS[f] for f in features)
    cells = analysis.density_grid(x, y, MALIGNANT, True, PAIR_DENSITY_GRID)
    nothing = {**cells, "counts": {g: np.zeros_like(c).tolist() for g, c in cells["counts"].items()}}
    numbers = {
        "features": features,
        "mode": "density",
        "histograms": {f: analysis.histogram(COLUMNS[f], MALIGNANT, 20) for f in features},
        "title": "t",
    }

    def benign_pixels(grid: dict) -> int:
        panels = pair_panels({"grids": {"radius_mean|concavity_mean": grid}})
        image = decode(plots.pairs(COLUMNS, MALIGNANT, numbers, (600, 600, 100), "png", panels))
        assert image.size == (600, 600)
        pixels = np.asarray(image).reshape(-1, 3).astype(int)
        target = (np.array(to_rgb(plots.COLOURS["benign"])) * 255).round().astype(int)
        return int((np.abs(pixels - target).max(axis=1) <= 60).sum())

    # Both panels show the grid's cells (the legend's marker alone is the same in both pictures).
    assert benign_pixels(cells) > 3 * benign_pixels(nothing)
