"""The numbers behind the plots, checked against numpy and pandas computed independently,
on the bundled file and on a shuffled copy of it (row order must not change any number)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared.config import BUNDLED_DATASET
from shared.dataset import analysis
from shared.dataset.features import FEATURES, csv_name

BUNDLED = pd.read_csv(BUNDLED_DATASET).rename(columns={csv_name(f): f for f in FEATURES})
SHUFFLED = BUNDLED.sample(frac=1, random_state=7).reset_index(drop=True)
SOME = ["radius_mean", "texture_se", "area_worst", "concave_points_mean", "fractal_dimension_worst"]


@pytest.fixture(params=["bundled", "shuffled"])
def frame(request: pytest.FixtureRequest) -> pd.DataFrame:
    return BUNDLED if request.param == "bundled" else SHUFFLED


def malignant(frame: pd.DataFrame) -> np.ndarray:
    return (frame["diagnosis"] == "M").to_numpy()


def by_class(frame: pd.DataFrame, feature: str) -> dict[str, pd.Series]:
    return {
        "benign": frame.loc[frame["diagnosis"] == "B", feature],
        "malignant": frame.loc[frame["diagnosis"] == "M", feature],
    }


@pytest.mark.parametrize("feature", SOME)
@pytest.mark.parametrize("bins", [1, 10, 37, 200])
def test_histogram_counts_and_edges_are_numpys(frame: pd.DataFrame, feature: str, bins: int) -> None:
    numbers = analysis.histogram(frame[feature].to_numpy(), malignant(frame), bins)

    edges = np.histogram_bin_edges(frame[feature], bins=bins)
    assert numbers["edges"] == pytest.approx(edges.tolist(), rel=1e-15)
    for group, values in by_class(frame, feature).items():
        assert numbers["counts"][group] == np.histogram(values, bins=edges)[0].tolist()
    assert sum(map(sum, numbers["counts"].values())) == len(frame)


def test_histogram_of_every_row_with_a_range_and_density(frame: pd.DataFrame) -> None:
    values = frame["area_mean"].to_numpy()
    numbers = analysis.histogram(values, malignant(frame), 15, False, (200.0, 1500.0), density=True)

    counts, edges = np.histogram(values, bins=15, range=(200, 1500))
    assert numbers["edges"] == pytest.approx(edges.tolist())
    assert numbers["counts"] == {"all": counts.tolist()}
    assert sum(numbers["counts"]["all"]) < len(frame)  # values outside the range are left out
    heights = np.histogram(values, bins=15, range=(200, 1500), density=True)[0]
    assert numbers["heights"]["all"] == pytest.approx(heights.tolist())


def test_density_heights_are_per_class_densities(frame: pd.DataFrame) -> None:
    numbers = analysis.histogram(frame["radius_mean"].to_numpy(), malignant(frame), 20, density=True)
    edges = np.asarray(numbers["edges"])
    for group, values in by_class(frame, "radius_mean").items():
        expected = np.histogram(values, bins=edges, density=True)[0]
        assert numbers["heights"][group] == pytest.approx(expected.tolist())
        assert float(np.sum(np.asarray(numbers["heights"][group]) * np.diff(edges))) == pytest.approx(1.0)


def test_correlations_are_pandas_pearson(frame: pd.DataFrame) -> None:
    matrix = analysis.correlation([frame[f].to_numpy() for f in FEATURES])
    assert np.asarray(matrix) == pytest.approx(frame[list(FEATURES)].corr().to_numpy(), abs=1e-12)


def test_correlation_summed_in_chunks_is_the_same(
    frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(analysis, "CHUNK_ROWS", 50)  # 12 chunks for 569 rows
    matrix = analysis.correlation([frame[f].to_numpy() for f in SOME])
    assert np.asarray(matrix) == pytest.approx(frame[SOME].corr().to_numpy(), abs=1e-12)


def test_a_constant_column_has_no_correlation() -> None:
    matrix = analysis.correlation([np.arange(10.0), np.full(10, 3.0)])
    assert matrix[0][0] == pytest.approx(1.0)
    assert matrix[0][1] is None
    assert matrix[1][1] is None


@pytest.mark.parametrize("feature", SOME)
def test_box_statistics_are_numpy_percentiles_and_tukey_whiskers(frame: pd.DataFrame, feature: str) -> None:
    numbers = analysis.box(frame[feature].to_numpy(), malignant(frame))
    for group, values in by_class(frame, feature).items():
        stats = numbers["groups"][group]
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        assert (stats["q1"], stats["median"], stats["q3"]) == pytest.approx((q1, median, q3))
        reach = 1.5 * (q3 - q1)
        assert stats["whisker_low"] == values[values >= q1 - reach].min()
        assert stats["whisker_high"] == values[values <= q3 + reach].max()
        beyond = values[(values < q1 - reach) | (values > q3 + reach)]
        assert stats["outliers"] == len(beyond)
        assert sorted(stats["fliers"]) == sorted(beyond.tolist())
        assert (stats["count"], stats["min"], stats["max"]) == (len(values), values.min(), values.max())
        assert stats["mean"] == pytest.approx(values.mean())


def test_box_lists_at_most_max_fliers_outliers() -> None:
    values = np.concatenate([np.zeros(10_000), np.linspace(100, 200, 3000)])
    stats = analysis.box_stats(values)
    assert stats["outliers"] == 3000
    assert len(stats["fliers"]) == analysis.MAX_FLIERS
    assert (stats["fliers"][0], stats["fliers"][-1]) == (100.0, 200.0)


def test_violin_density_is_a_gaussian_kde_with_scotts_bandwidth(frame: pd.DataFrame) -> None:
    values = frame.loc[frame["diagnosis"] == "B", "area_mean"].to_numpy()
    numbers = analysis.kernel_density(values)

    coords = np.asarray(numbers["coords"])
    bandwidth = values.std(ddof=1) * values.size ** (-1 / 5)
    exact = np.exp(-0.5 * ((coords[:, None] - values[None, :]) / bandwidth) ** 2).sum(axis=1) / (
        values.size * bandwidth * np.sqrt(2 * np.pi)
    )
    assert coords[[0, -1]].tolist() == [values.min(), values.max()]
    assert np.asarray(numbers["density"]) == pytest.approx(exact, abs=1e-3 * exact.max())


@pytest.mark.parametrize("feature", SOME)
def test_feature_statistics_are_pandas_describe(frame: pd.DataFrame, feature: str) -> None:
    described = frame.groupby("diagnosis")[feature].describe()
    for code in ("B", "M"):
        ours = analysis.describe(frame.loc[frame["diagnosis"] == code, feature].to_numpy())
        theirs = described.loc[code]
        assert ours["count"] == theirs["count"]
        for key, name in [("mean", "mean"), ("std", "std"), ("min", "min"), ("q1", "25%")]:
            assert ours[key] == pytest.approx(theirs[name]), key
        for key, name in [("median", "50%"), ("q3", "75%"), ("max", "max")]:
            assert ours[key] == pytest.approx(theirs[name]), key


def test_scatter_counts_ranges_and_trend_lines(frame: pd.DataFrame) -> None:
    x, y = frame["radius_mean"].to_numpy(), frame["concavity_mean"].to_numpy()
    numbers = analysis.scatter(x, y, malignant(frame), with_trend=True)

    assert numbers["mode"] == "points"
    assert numbers["points"] == {"benign": 357, "malignant": 212}
    assert numbers["x_range"] == [x.min(), x.max()]
    for group, code in (("benign", "B"), ("malignant", "M")):
        rows = frame[frame["diagnosis"] == code]
        slope, intercept = np.polyfit(rows["radius_mean"], rows["concavity_mean"], 1)
        line = numbers["trend"][group]
        assert (line["slope"], line["intercept"]) == pytest.approx((slope, intercept))
        assert line["r"] == pytest.approx(rows["radius_mean"].corr(rows["concavity_mean"]))


def test_scatter_becomes_a_2d_histogram_above_the_point_limit(frame: pd.DataFrame) -> None:
    x, y = frame["radius_mean"].to_numpy(), frame["texture_mean"].to_numpy()
    numbers = analysis.scatter(x, y, malignant(frame), point_limit=500)

    assert numbers["mode"] == "density"
    grid = numbers["grid"]
    for group, values in {
        "benign": frame["diagnosis"] == "B",
        "malignant": frame["diagnosis"] == "M",
    }.items():
        expected = np.histogram2d(x[values], y[values], bins=(grid["x_edges"], grid["y_edges"]))[0]
        assert grid["counts"][group] == expected.astype(int).tolist()
    assert len(grid["x_edges"]) == analysis.DENSITY_GRID + 1
    assert np.sum(grid["counts"]["benign"]) + np.sum(grid["counts"]["malignant"]) == len(frame)


def test_row_order_changes_no_number() -> None:
    def everything(frame: pd.DataFrame) -> list:
        m = malignant(frame)
        return [
            analysis.histogram(frame["area_se"].to_numpy(), m, 25),
            analysis.box(frame["symmetry_worst"].to_numpy(), m, violin=True),
            analysis.scatter(
                frame["radius_mean"].to_numpy(), frame["texture_mean"].to_numpy(), m, True, True
            ),
            {f: analysis.describe(frame[f].to_numpy()) for f in SOME},
        ]

    bundled, shuffled = everything(BUNDLED), everything(SHUFFLED)
    assert bundled[0] == shuffled[0]
    assert bundled[1]["groups"]["benign"]["q3"] == shuffled[1]["groups"]["benign"]["q3"]
    assert bundled[1]["groups"]["malignant"]["kde"]["density"] == pytest.approx(
        shuffled[1]["groups"]["malignant"]["kde"]["density"]
    )
    assert bundled[2]["trend"]["benign"]["slope"] == pytest.approx(shuffled[2]["trend"]["benign"]["slope"])
    for feature in SOME:
        assert bundled[3][feature] == pytest.approx(shuffled[3][feature])


def test_the_summary_says_where_each_value_lies_against_the_data_sets_range(frame: pd.DataFrame) -> None:
    radius, symmetry, fractal = (frame[f] for f in ("radius_mean", "symmetry_worst", "fractal_dimension_se"))
    sample = {
        "radius_mean": float(radius.max()),  # either end of the range is within it
        "symmetry_worst": 20.0,
        "fractal_dimension_se": 0.0,
        "area_mean": float(frame["area_mean"].min()),
    }
    columns = {f: frame[f].to_numpy() for f in sample}
    summary = analysis.job_summary("j", sample, columns, malignant(frame))["features"]
    assert {f: s["position"] for f, s in summary.items()} == {
        "radius_mean": "within",
        "symmetry_worst": "above",
        "fractal_dimension_se": "below",
        "area_mean": "within",
    }
    assert summary["symmetry_worst"]["range"] == [symmetry.min(), symmetry.max()]
    assert summary["fractal_dimension_se"]["range"] == [fractal.min(), fractal.max()]
    assert summary["radius_mean"]["range"] == [radius.min(), radius.max()]
