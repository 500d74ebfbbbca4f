"""The graph service over HTTP: every plot as PNG, SVG and JSON, bounds, caching, /features, /dataset."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
import requests
from helpers import error_of
from PIL import Image

from devtools.devserver import ROOT
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import CURRENT, load_file
from shared.dataset.features import FEATURES, csv_name

pytestmark = pytest.mark.integration
FRAME = pd.read_csv(BUNDLED_DATASET).rename(columns={csv_name(f): f for f in FEATURES})
ROUTES = {
    "histogram": {"feature": "area_worst", "bins": 25, "log": "true"},
    "scatter": {"x": "radius_mean", "y": "concavity_mean", "trend": "true"},
    "box": {"feature": "texture_mean", "kind": "violin"},
    "correlation": {"features": "radius_mean,texture_mean,area_mean,smoothness_mean"},
    "pairs": {"features": "radius_mean,texture_mean,smoothness_mean,symmetry_mean"},
}
#: Databases of the tests' own redis-server that these tests use for data sets of their own.
VERSIONS_DB, SINGLE_FLIGHT_DB = 11, 12


def get(base: str, path: str, params: dict | None = None, **headers: str) -> requests.Response:
    return requests.get(f"{base}{path}", params=params, headers=headers, timeout=60)


def png_size(content: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(content))
    assert image.format == "PNG"
    return image.size


@pytest.fixture
def graph(services: dict[str, str]) -> str:
    return services["graph"]


# pictures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize(("width", "height", "dpi"), [(640, 480, 100), (1001, 777, 150)])
def test_every_plot_is_a_png_of_the_requested_size(
    graph: str, route: str, width: int, height: int, dpi: int
) -> None:
    response = get(graph, f"/graph/{route}", {**ROUTES[route], "width": width, "height": height, "dpi": dpi})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert png_size(response.content) == (width, height)


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_every_plot_is_also_svg_and_json(graph: str, route: str) -> None:
    svg = get(graph, f"/graph/{route}", {**ROUTES[route], "format": "svg"})
    assert svg.status_code == 200
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert ET.fromstring(svg.content).tag == "{http://www.w3.org/2000/svg}svg"

    numbers = get(graph, f"/graph/{route}", {**ROUTES[route], "format": "json"})
    assert numbers.status_code == 200
    assert numbers.headers["Content-Type"] == "application/json"
    assert numbers.json()["title"]


def test_plots_default_to_png_at_their_default_size(graph: str) -> None:
    assert png_size(get(graph, "/graph/histogram").content) == (900, 600)
    assert png_size(get(graph, "/graph/box").content) == (700, 600)
    assert png_size(get(graph, "/graph/pairs").content) == (900, 900)


# the numbers, against numpy and pandas ----------------------------------------------------------


def test_histogram_options_give_numpys_numbers(graph: str) -> None:
    numbers = get(
        graph,
        "/graph/histogram",
        {
            "feature": "area_mean",
            "bins": 12,
            "range": "200,1500",
            "density": "true",
            "by": "none",
            "format": "json",
        },
    ).json()
    counts, edges = np.histogram(FRAME["area_mean"], bins=12, range=(200, 1500))
    assert numbers["edges"] == pytest.approx(edges.tolist())
    assert numbers["counts"] == {"all": counts.tolist()}
    heights = np.histogram(FRAME["area_mean"], bins=12, range=(200, 1500), density=True)[0]
    assert numbers["heights"]["all"] == pytest.approx(heights.tolist())
    assert (numbers["by"], numbers["density"], numbers["range"]) == ("none", True, [200.0, 1500.0])


def test_correlation_is_pandas_pearson_and_all_thirty_by_default(graph: str) -> None:
    numbers = get(graph, "/graph/correlation", {"format": "json"}).json()
    assert numbers["features"] == list(FEATURES)
    assert np.asarray(numbers["matrix"]) == pytest.approx(FRAME[list(FEATURES)].corr().to_numpy(), abs=1e-12)
    assert numbers["annotated"] is False
    few = get(graph, "/graph/correlation", {"features": "area_worst,radius_mean", "format": "json"}).json()
    assert few["features"] == ["area_worst", "radius_mean"]  # in the order asked for
    assert few["annotated"] is True


def test_box_statistics_are_numpy_percentiles(graph: str) -> None:
    numbers = get(graph, "/graph/box", {"feature": "concavity_worst", "format": "json"}).json()
    for group, code in (("benign", "B"), ("malignant", "M")):
        values = FRAME.loc[FRAME["diagnosis"] == code, "concavity_worst"]
        stats = numbers["groups"][group]
        assert [stats["q1"], stats["median"], stats["q3"]] == pytest.approx(
            np.percentile(values, [25, 50, 75])
        )
        assert stats["count"] == len(values)


def test_scatter_without_hue_counts_every_row_and_fits_one_trend(graph: str) -> None:
    numbers = get(
        graph,
        "/graph/scatter",
        {"x": "radius_mean", "y": "area_mean", "hue": "none", "trend": "1", "format": "json"},
    ).json()
    assert numbers["points"] == {"all": 569}
    slope, intercept = np.polyfit(FRAME["radius_mean"], FRAME["area_mean"], 1)
    assert numbers["trend"]["all"]["slope"] == pytest.approx(slope)
    assert numbers["trend"]["all"]["intercept"] == pytest.approx(intercept)
    assert numbers["trend"]["all"]["r"] == pytest.approx(FRAME["radius_mean"].corr(FRAME["area_mean"]))
    assert numbers["mode"] == "points"


def test_pairs_give_a_histogram_per_feature_and_their_correlations(graph: str) -> None:
    features = ["radius_mean", "texture_mean", "symmetry_worst"]
    numbers = get(graph, "/graph/pairs", {"features": ",".join(features), "format": "json"}).json()
    assert numbers["features"] == features
    assert numbers["mode"] == "points"
    for feature in features:
        edges = np.histogram_bin_edges(FRAME[feature], bins=20)
        assert numbers["histograms"][feature]["edges"] == pytest.approx(edges.tolist())
    assert np.asarray(numbers["correlations"]) == pytest.approx(FRAME[features].corr().to_numpy())


def test_features_lists_units_descriptions_and_pandas_describe_per_diagnosis(graph: str) -> None:
    response = get(graph, "/features")
    assert response.status_code == 200
    body = response.json()
    assert [f["name"] for f in body["features"]] == list(FEATURES)
    described = FRAME.groupby("diagnosis")[list(FEATURES)].describe()
    for entry in body["features"]:
        assert entry["description"]
        assert entry["csv_name"] == csv_name(entry["name"])
        for group, code in (("benign", "B"), ("malignant", "M")):
            ours, theirs = entry["statistics"][group], described.loc[code, entry["name"]]
            assert ours["count"] == theirs["count"]
            pairs = [("mean", "mean"), ("std", "std"), ("min", "min"), ("q1", "25%")]
            pairs += [("median", "50%"), ("q3", "75%"), ("max", "max")]
            assert [ours[k] for k, _ in pairs] == pytest.approx([theirs[n] for _, n in pairs])
    units = {f["name"]: f["unit"] for f in body["features"]}
    assert (units["radius_mean"], units["area_worst"], units["smoothness_se"]) == ("px", "px²", "")
    assert response.headers["X-Cache"] in ("hit", "miss")


def test_dataset_gives_version_rows_and_class_counts(graph: str) -> None:
    body = get(graph, "/dataset").json()
    assert body == {
        "version": hashlib.sha256(BUNDLED_DATASET.read_bytes()).hexdigest(),
        "rows": 569,
        "classes": {"benign": 357, "malignant": 212},
        "source": BUNDLED_DATASET.name,
    }


# bounds and bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/graph/histogram", {"width": 2401}, "invalid_parameter"),
        ("/graph/histogram", {"width": 199}, "invalid_parameter"),
        ("/graph/scatter", {"x": "radius_mean", "y": "area_mean", "height": 100000}, "invalid_parameter"),
        ("/graph/box", {"dpi": 301}, "invalid_parameter"),
        ("/graph/box", {"dpi": "high"}, "invalid_parameter"),
        ("/graph/box", {"kind": "strip"}, "invalid_parameter"),
        ("/graph/histogram", {"bins": 201}, "invalid_parameter"),
        ("/graph/histogram", {"range": "10"}, "invalid_parameter"),
        ("/graph/histogram", {"range": "20,ten"}, "invalid_parameter"),
        ("/graph/histogram", {"range": "0,inf"}, "invalid_parameter"),
        ("/graph/histogram", {"density": "maybe"}, "invalid_parameter"),
        ("/graph/histogram", {"by": "texture"}, "invalid_parameter"),
        ("/graph/histogram", {"format": "gif"}, "invalid_parameter"),
        ("/graph/scatter", {"x": "radius_mean", "y": "area_mean", "hue": "size"}, "invalid_parameter"),
        ("/graph/pairs", {"features": "radius_mean"}, "invalid_parameter"),
        ("/graph/pairs", {"features": ",".join(FEATURES[:6])}, "invalid_parameter"),
        ("/graph/pairs", {"features": "radius_mean,radius_mean"}, "invalid_parameter"),
        ("/graph/correlation", {"features": "radius_mean,radius"}, "unknown_feature"),
        ("/graph/correlation", {"features": ""}, "missing_parameter"),
        ("/graph/correlation", {"method": "spearman"}, "unknown_parameter"),
        ("/features", {"feature": "radius_mean"}, "unknown_parameter"),
        ("/dataset", {"rows": "10"}, "unknown_parameter"),
    ],
)
def test_out_of_bounds_and_bad_parameters_are_400(graph: str, path: str, params: dict, code: str) -> None:
    response = get(graph, path, params)
    assert response.status_code == 400
    assert error_of(response)["code"] == code


# caching -----------------------------------------------------------------------------------------


def test_a_repeated_plot_comes_from_the_cache_and_revalidates_with_304(graph: str) -> None:
    params = {"feature": "perimeter_se", "bins": 17, "width": 811}
    first = get(graph, "/graph/histogram", params)
    again = get(graph, "/graph/histogram", params)

    assert (first.headers["X-Cache"], again.headers["X-Cache"]) == ("miss", "hit")
    assert first.content == again.content
    assert first.headers["ETag"] == again.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")

    revalidated = get(graph, "/graph/histogram", params, **{"If-None-Match": first.headers["ETag"]})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["ETag"] == first.headers["ETag"]
    stale = get(graph, "/graph/histogram", params, **{"If-None-Match": '"0123"'})
    assert stale.status_code == 200


def test_parameter_order_spelling_and_defaults_make_no_new_key(graph: str) -> None:
    first = get(graph, "/graph/scatter", {"y": "area_se", "x": "radius_se", "width": 733})
    same = [
        {"x": "radius_se", "y": "area_se", "width": 733, "height": 600, "dpi": 100},
        {
            "width": "733",
            "format": "png",
            "hue": "diagnosis",
            "trend": "false",
            "y": "area_se",
            "x": "radius_se",
        },
        {"x": "radius_se", "y": "area_se", "width": "0733", "trend": "0"},
    ]
    for params in same:
        response = get(graph, "/graph/scatter", params)
        assert response.headers["X-Cache"] == "hit", params
        assert response.headers["ETag"] == first.headers["ETag"]
    other = get(graph, "/graph/scatter", {"y": "area_se", "x": "radius_se", "width": 734})
    assert other.headers["ETag"] != first.headers["ETag"]


def test_json_ignores_the_picture_size_and_kaggle_spelling_is_the_same_key(graph: str) -> None:
    first = get(graph, "/graph/box", {"feature": "concave_points_se", "format": "json"})
    for params in ({"width": 400, "dpi": 72}, {"feature": "concave points_se"}):
        again = get(graph, "/graph/box", {"feature": "concave_points_se", "format": "json", **params})
        assert again.headers["ETag"] == first.headers["ETag"]
        assert again.headers["X-Cache"] == "hit"


@pytest.fixture
def private_db(redis_server) -> Iterator[tuple[redis.Redis, str]]:
    """A database of the tests' redis-server for one test: its client and URL; emptied afterwards."""
    client = redis_server.client(VERSIONS_DB)
    client.flushdb()
    yield client, f"redis://127.0.0.1:{redis_server.port}/{VERSIONS_DB}"
    client.flushdb()


def flat(tree: dict | list | float, path: str = "") -> dict[str, float]:
    """Nested JSON numbers as one flat mapping (``pytest.approx`` compares flat ones)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flat(value, f"{path}/{key}").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in flat(value, f"{path}/{i}").items()}
    return {path: tree}


def shuffled_copy(directory: Path) -> Path:
    """The bundled rows in another order: another file, so another version, with the same numbers."""
    raw = pd.read_csv(BUNDLED_DATASET, dtype=str)
    path = directory / "shuffled.csv"
    raw.sample(frac=1, random_state=3).to_csv(path, index=False)
    return path


def test_a_new_data_set_version_changes_every_key_and_a_shuffled_copy_the_same_numbers(
    private_db, function_processes, tmp_path: Path
) -> None:
    client, url = private_db
    load_file(client, BUNDLED_DATASET)
    graph = function_processes.start("graph", {"REDIS_URL": url, "THREADS": "2"})
    requests_ = [
        ("/graph/histogram", {"feature": "symmetry_mean", "bins": 30, "format": "json"}),
        ("/graph/box", {"feature": "area_worst", "format": "json"}),
        ("/graph/correlation", {"format": "json"}),
        ("/features", {}),
    ]
    before = [get(graph, path, params) for path, params in requests_]
    assert all(r.headers["X-Cache"] == "miss" for r in before)

    meta = load_file(client, shuffled_copy(tmp_path))
    assert get(graph, "/dataset").json()["version"] == meta["version"]
    after = [get(graph, path, params) for path, params in requests_]

    for old, new in zip(before, after, strict=True):
        assert new.headers["X-Cache"] == "miss"
        assert new.headers["ETag"] != old.headers["ETag"]
    histogram, box, correlation, features = (r.json() for r in after)
    assert histogram["counts"] == before[0].json()["counts"]
    assert histogram["edges"] == before[0].json()["edges"]
    assert flat(box["groups"]) == pytest.approx(flat(before[1].json()["groups"]))
    assert np.asarray(correlation["matrix"]) == pytest.approx(
        np.asarray(before[2].json()["matrix"]), abs=1e-12
    )
    for old, new in zip(before[3].json()["features"], features["features"], strict=True):
        assert flat(new["statistics"]) == pytest.approx(flat(old["statistics"]))


def test_a_data_set_gone_from_redis_is_503_not_500(private_db, function_processes) -> None:
    client, url = private_db
    client.set(CURRENT, "0" * 64)  # points at a version whose columns are not there
    graph = function_processes.start("graph", {"REDIS_URL": url})
    for path in ("/graph/histogram", "/dataset", "/features"):
        response = get(graph, path)
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        assert error_of(response)["code"] == "unavailable"


def test_concurrent_identical_cold_requests_render_once(redis_server, function_processes) -> None:
    client = redis_server.client(SINGLE_FLIGHT_DB)
    client.flushdb()
    try:
        load_file(client, BUNDLED_DATASET)
        url = f"redis://127.0.0.1:{redis_server.port}/{SINGLE_FLIGHT_DB}"
        graph = function_processes.start("graph", {"REDIS_URL": url, "THREADS": "8"})
        get(graph, "/dataset")  # the process is up and has read the version
        params = {"features": ",".join(FEATURES[:5]), "format": "svg"}  # a slow render: 25 panels as SVG
        start = threading.Barrier(6)
        answers: list[requests.Response] = []

        def fetch() -> None:
            start.wait()
            answers.append(get(graph, "/graph/pairs", params))

        threads = [threading.Thread(target=fetch) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(a.headers["X-Cache"] for a in answers) == ["hit"] * 5 + ["miss"]
        assert len({a.content for a in answers}) == 1
    finally:
        client.flushdb()


PROBE = """
import json, os, sys
from functions_framework import create_app
app = create_app(target="graph", source=sys.argv[1], signature_type="http")
response = app.test_client().get(sys.argv[2])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("numpy", "matplotlib", "pandas"))
print(json.dumps({"status": response.status_code, "cache": response.headers.get("X-Cache"), "heavy": heavy}))
"""


def test_a_cached_plot_is_served_without_numpy_or_matplotlib(graph: str, loaded_redis) -> None:
    path = "/graph/histogram?feature=radius_worst&bins=11"
    assert get(graph, path).status_code == 200  # now it is in the cache
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions/render/main.py"), path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "REDIS_URL": loaded_redis.url},
        check=True,
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"status": 200, "cache": "hit", "heavy": []}
