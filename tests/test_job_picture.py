"""A job's picture composed from cached backgrounds is the picture drawn whole, and costs only its marks."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image

from shared.config import BUNDLED_DATASET
from shared.dataset import analysis
from shared.dataset.csv_file import read_dataset_csv
from shared.dataset.features import FEATURES, parse_sample
from shared.picture import backgrounds, palette
from shared.picture import bands as scatter_bands
from shared.picture import layout as job_picture
from shared.picture.backgrounds import Backgrounds, full_png
from shared.picture.layout import CELL_HEIGHT, CELL_WIDTH, Data, Panel
from shared.store import plot_cache

DATASET = read_dataset_csv(BUNDLED_DATASET)
COLUMNS, MALIGNANT = DATASET.columns, DATASET.malignant.astype(bool)
HISTOGRAMS = {f: analysis.histogram(COLUMNS[f], MALIGNANT, 20) for f in FEATURES}
DATA = Data(COLUMNS, MALIGNANT, HISTOGRAMS)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=int)


def composed(cache: Backgrounds, sample: dict[str, float], version: str = "v1", data: Data = DATA) -> bytes:
    return cache.png(version, sample, data)


def whole(sample: dict[str, float], data: Data = DATA) -> bytes:
    return full_png(sample, data)


def assert_same_picture(fast: bytes, reference: bytes) -> None:
    """The same bytes; where not, how many pixels differ (none may)."""
    if fast != reference:
        a, b = pixels(fast), pixels(reference)
        assert a.shape == b.shape
        raise AssertionError(f"{(a != b).any(axis=2).sum()} pixels differ")


def samples_of(count: int, where: float, rng: np.random.Generator | None = None) -> dict[str, float]:
    """``count`` features, each at quantile ``where`` of its column (below 0 or above 1: outside it)."""
    chosen = FEATURES[:count] if rng is None else [FEATURES[i] for i in rng.choice(30, count, replace=False)]
    low, high = 0.0, 1.0
    values = {}
    for f in chosen:
        column = COLUMNS[f]
        if low <= where <= high:
            values[f] = float(np.quantile(column, where))
        else:
            values[f] = float(column.min() + where * (column.max() - column.min()))
    return values


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("where", [0.5, 0.03, 0.97, -0.4, 1.3])
def test_the_composed_picture_is_the_whole_drawing_byte_for_byte(count: int, where: float) -> None:
    cache = Backgrounds()
    sample = samples_of(count, where)
    assert_same_picture(composed(cache, sample), whole(sample))  # a cold cache draws its first whole
    assert cache.whole == 1
    assert_same_picture(composed(cache, sample), whole(sample))  # every background drawn for this job
    assert cache.drawn >= 1
    drawn = cache.drawn
    assert_same_picture(composed(cache, sample), whole(sample))  # and reused
    assert cache.drawn == drawn or where not in (0.5, 0.03, 0.97)  # outside the data: limits of its own


def test_pictures_put_together_from_a_warm_cache_are_the_whole_drawing_too() -> None:
    cache = Backgrounds()
    assert cache.warm("v1", DATA) > 60  # layouts, histograms, scatter bands
    assert cache.warm("v1", DATA) == 0  # nothing left to draw
    rng = np.random.default_rng(13)
    drawn = cache.drawn
    for _ in range(12):
        sample = samples_of(int(rng.integers(2, 7)), float(rng.uniform(0.05, 0.95)), rng)
        assert_same_picture(composed(cache, sample), whole(sample))
    assert cache.composed >= 12  # each scatter from its axes' bands, each first panel's legend over it
    assert cache.drawn - drawn <= 3  # a feature whose long label leaves its band is drawn whole


def test_the_same_sample_gives_the_same_bytes_whatever_the_cache_holds() -> None:
    sample = {"radius_mean": 17.2, "concave_points_worst": 0.12, "area_se": 40.0, "symmetry_mean": 0.2}
    fresh = composed(Backgrounds(), sample)
    warmed = Backgrounds()
    warmed.warm("v1", DATA)
    small = Backgrounds(limit=2)
    for other in ({"radius_mean": 10.0}, {"area_se": 20.0, "radius_mean": 12.0}):
        composed(small, other)
    assert composed(warmed, sample) == fresh == composed(small, sample) == composed(small, sample)


def test_different_samples_give_different_pictures() -> None:
    cache = Backgrounds()
    pictures = {
        composed(cache, {"radius_mean": 12.0, "texture_mean": 18.0}),
        composed(cache, {"radius_mean": 20.0, "texture_mean": 18.0}),  # the line and the star move
        composed(cache, {"radius_mean": 12.0, "texture_mean": 30.0}),
        composed(cache, {"texture_mean": 18.0, "radius_mean": 12.0}),  # another order, other panels
    }
    assert len(pictures) == 4


def test_both_spellings_of_concave_points_give_one_picture() -> None:
    kaggle = parse_sample({"concave points_mean": 0.05, "radius_mean": 14.0})
    ours = parse_sample({"concave_points_mean": 0.05, "radius_mean": 14.0})
    cache = Backgrounds()
    assert composed(cache, kaggle) == composed(cache, ours) == composed(Backgrounds(), ours)
    assert_same_picture(composed(cache, kaggle), whole(ours))


def test_a_new_data_set_version_never_reuses_an_old_background() -> None:
    cache = Backgrounds()
    sample = {"radius_mean": 14.0, "texture_mean": 20.0}
    composed(cache, sample, "v1")
    doubled = {f: COLUMNS[f] * 2 for f in sample}
    data = Data(doubled, MALIGNANT, {f: analysis.histogram(doubled[f], MALIGNANT, 20) for f in doubled})
    new = composed(cache, sample, "v2", data)
    assert_same_picture(new, whole(sample, data))
    assert new != composed(cache, sample, "v1")


def test_new_drawing_code_never_reuses_an_old_background(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = Backgrounds()
    sample = {"radius_mean": 14.0}
    composed(cache, sample)
    drawn = cache.drawn
    monkeypatch.setattr(plot_cache, "code_version", lambda: "other code")
    composed(cache, sample)
    assert cache.drawn == drawn + 1


def test_the_backgrounds_kept_are_bounded() -> None:
    cache = Backgrounds(limit=5)
    rng = np.random.default_rng(3)
    for _ in range(20):
        composed(cache, samples_of(int(rng.integers(1, 7)), 0.5, rng))
    assert len(cache) == 5


def test_every_panel_of_the_bundled_data_keeps_to_its_cell() -> None:
    """What composing relies on: nothing a panel draws reaches past its own cell."""
    panels = [Panel("histogram", (f,), legend) for f in FEATURES for legend in (False, True)]
    panels += [Panel("scatter", (x, y), True) for x, y in zip(FEATURES, FEATURES[::-1], strict=True)]
    for panel in panels:
        canvas, axes = backgrounds._draw(panel, DATA)
        box = axes.get_tightbbox(canvas.get_renderer())
        assert box.x0 >= 0, panel
        assert box.y0 >= 0, panel
        assert box.x1 <= CELL_WIDTH, panel
        assert box.y1 <= CELL_HEIGHT, panel


def test_most_scatter_axes_keep_to_their_bands() -> None:
    kept = 0
    for x, y in itertools.pairwise(FEATURES):
        canvas, axes = backgrounds._draw(Panel("scatter", (x, y), True), DATA)
        kept += scatter_bands.bands(axes, canvas) != (None, None)
    assert kept >= 20


def test_the_palette_file_is_what_its_generator_makes() -> None:
    assert palette.make() == palette.PALETTE_PATH.read_text().split(), "run python -m shared.picture.palette"


def test_a_palette_picture_is_true_to_the_full_colour_drawing() -> None:
    sample = samples_of(6, 0.6)
    canvas = FigureCanvasAgg(job_picture.full(sample, DATA))
    canvas.draw()
    colours = np.asarray(canvas.buffer_rgba())[..., :3].astype(int)
    difference = np.abs(pixels(whole(sample)) - colours)
    assert Image.open(io.BytesIO(whole(sample))).mode == "P"
    assert difference.max() <= 12  # a few anti-aliased pixels move by a few levels
    assert (difference.max(axis=2) == 0).mean() > 0.9  # white, black and the fills are exact
    assert difference.mean() < 0.2


def test_a_job_picture_is_under_half_its_full_colour_size() -> None:
    sample = samples_of(6, 0.5)
    assert len(whole(sample)) < 0.5 * len(full_png(sample, DATA, palette_colours=False))
