"""The data set over HTTP: rows as JSON pages, CSV and NDJSON, one case by id, and filtered plots."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest
import requests
from helpers import error_of

from shared.config import BUNDLED_DATASET
from shared.dataset.columns import ID, ColumnCache, MissingIds, column_key, load_file
from shared.dataset.features import FEATURES, csv_name

pytestmark = pytest.mark.integration
#: The bundled file as an independent reader sees it: the expected answers come from here.
FRAME = (
    pd.read_csv(BUNDLED_DATASET)
    .rename(columns={csv_name(f): f for f in FEATURES})
    .loc[:, ["id", "diagnosis", *FEATURES]]
)


@pytest.fixture(scope="module")
def graph(services: dict[str, str]) -> str:
    return services["graph"]


def rows(graph: str, params: dict | list | None = None) -> requests.Response:
    return requests.get(f"{graph}/dataset/rows", params=params, timeout=60)


def every_page(graph: str, params: dict | list) -> list[dict]:
    """Every row, following ``next`` from the first page to the last."""
    page = rows(graph, params).json()
    found, pages = list(page["rows"]), 1
    while page["next"]:
        page = requests.get(page["next"], timeout=60).json()
        found += page["rows"]
        pages += 1
    assert pages == max(1, -(-page["total"] // int(dict(params).get("_size", 50))))
    return found


# JSON pages --------------------------------------------------------------------------------------


def test_the_first_page_is_the_files_first_50_rows_with_totals_and_a_next_link(graph: str) -> None:
    response = rows(graph)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    page = response.json()
    assert set(page) == {"rows", "total", "counts", "next"}
    assert page["total"] == 569
    assert page["counts"] == {"benign": 357, "malignant": 212}
    assert page["rows"] == FRAME.iloc[:50].to_dict("records")  # every value exactly, ids included
    assert list(page["rows"][0]) == ["id", "diagnosis", *FEATURES]
    assert page["next"].startswith(f"{graph}/dataset/rows?_next=")


def test_following_next_gives_every_matching_row_once_in_order(graph: str) -> None:
    params = [("diagnosis", "B"), ("area_mean__gte", "400"), ("_sort_desc", "texture_mean"), ("_size", "37")]
    found = every_page(graph, params)

    expected = FRAME[(FRAME.diagnosis == "B") & (FRAME.area_mean >= 400)]
    expected = expected.sort_values("texture_mean", ascending=False, kind="stable")
    assert [r["id"] for r in found] == expected["id"].tolist()


def test_sorting_keeps_equal_values_in_the_files_order_across_pages(graph: str) -> None:
    # concavity_mean is 0 for 13 cases: the pages must split those ties without losing or repeating one
    found = every_page(graph, {"_sort": "concavity_mean", "_size": "5", "_col": "concavity_mean"})

    expected = FRAME.sort_values("concavity_mean", kind="stable")
    assert [r["id"] for r in found] == expected["id"].tolist()
    assert set(found[0]) == {"id", "diagnosis", "concavity_mean"}


def test_sorting_by_id(graph: str) -> None:
    page = rows(graph, {"_sort_desc": "id", "_size": 3}).json()
    assert [r["id"] for r in page["rows"]] == sorted(FRAME["id"], reverse=True)[:3]


@pytest.mark.parametrize(
    "params",
    [
        [("radius_mean__gt", "15")],
        [("diagnosis", "M"), ("radius_mean__gt", "15"), ("texture_mean__lte", "20")],
        [("concave points_mean__lt", "0.05"), ("concave_points_mean__gte", "0.02")],  # both spellings
        [("area_mean__gt", "500"), ("area_mean__gt", "700"), ("area_mean__lt", "1000")],  # repeated
        [("symmetry_mean__eq", "0.1812")],
        [("radius_mean__gt", "1000")],
    ],
)
def test_filters_are_anded_and_counted_like_numpy(graph: str, params: list) -> None:
    page = rows(graph, [*params, ("_size", "1000")]).json()

    selected = np.ones(len(FRAME), dtype=bool)
    compare = {"gt": np.greater, "gte": np.greater_equal, "lt": np.less, "lte": np.less_equal, "eq": np.equal}
    for name, value in params:
        if name == "diagnosis":
            selected &= FRAME["diagnosis"].to_numpy() == value
        else:
            feature, op = name.replace("concave points", "concave_points").split("__")
            selected &= compare[op](FRAME[feature].to_numpy(), float(value))
    malignant = int((FRAME["diagnosis"].to_numpy()[selected] == "M").sum())
    assert page["total"] == int(selected.sum())
    assert page["counts"] == {"benign": page["total"] - malignant, "malignant": malignant}
    assert [r["id"] for r in page["rows"]] == FRAME["id"][selected].tolist()
    assert page["next"] is None


# CSV and NDJSON ----------------------------------------------------------------------------------


def test_csv_streams_every_row_exactly_as_the_file_has_it(graph: str) -> None:
    response = requests.get(f"{graph}/dataset/rows", params={"format": "csv"}, timeout=60, stream=True)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="tumorscope-rows-')
    assert response.headers.get("Transfer-Encoding") == "chunked"  # streamed, not built whole
    exported = pd.read_csv(io.BytesIO(response.content))
    pd.testing.assert_frame_equal(exported, FRAME)  # float64 values equal bit for bit


def test_ndjson_streams_every_matching_row_in_the_requested_order(graph: str) -> None:
    params = {
        "format": "ndjson",
        "diagnosis": "M",
        "_sort": "area_worst",
        "_col": ["area_worst", "radius_se"],
    }
    response = rows(graph, params)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    expected = FRAME[FRAME.diagnosis == "M"].sort_values("area_worst", kind="stable")
    assert lines == expected[["id", "diagnosis", "area_worst", "radius_se"]].to_dict("records")


# one case ----------------------------------------------------------------------------------------


def test_a_case_by_its_kaggle_id(graph: str) -> None:
    response = requests.get(f"{graph}/dataset/rows/842302", timeout=30)

    assert response.status_code == 200
    assert response.json() == FRAME.iloc[0].to_dict() | {"id": 842302}
    assert response.json()["radius_mean"] == 17.99


@pytest.mark.parametrize(("case", "status", "code"), [("1", 404, "unknown_case"), ("abc", 400, "invalid_id")])
def test_an_unknown_or_malformed_id_is_a_json_error(graph: str, case: str, status: int, code: str) -> None:
    response = requests.get(f"{graph}/dataset/rows/{case}", timeout=30)
    assert response.status_code == status
    assert error_of(response)["code"] == code


# bad parameters ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"radius_man__gt": "3"}, "radius_man__gt"),
        ({"radius_mean__gtx": "3"}, "radius_mean__gtx"),
        ({"radius_mean__gt": "abc"}, "radius_mean__gt"),
        ({"radius_mean__gt": "nan"}, "radius_mean__gt"),
        ({"radius_mean__gt": "1e999"}, "radius_mean__gt"),
        ({"diagnosis": "X"}, "diagnosis"),
        ({"diagnosis": ["M", "B"]}, "diagnosis"),
        ({"_size": "0"}, "_size"),
        ({"_size": "1001"}, "_size"),
        ({"_size": "ten"}, "_size"),
        ({"_sort": "radius"}, "_sort"),
        ({"_sort": "radius_mean", "_sort_desc": "area_mean"}, "_sort_desc"),
        ({"_col": "nope"}, "_col"),
        ({"format": "xml"}, "format"),
        ({"format": ""}, "format"),
        ({"format": "csv", "_size": "10"}, "_size"),
        ({"_next": "not-a-cursor"}, "_next"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_parameter_is_a_400_that_names_it(graph: str, params: dict, parameter: str) -> None:
    response = rows(graph, params)
    assert response.status_code == 400
    error = error_of(response)
    assert error["parameter"] == parameter
    assert parameter.split("__")[0][:8] in error["message"]


def test_a_cursor_from_another_query_is_refused(graph: str) -> None:
    first = rows(graph, {"_sort": "radius_mean", "_size": 10}).json()
    cursor = parse_qs(urlsplit(first["next"]).query)["_next"][0]
    assert rows(graph, {"_sort": "radius_mean", "_size": 10, "_next": cursor}).status_code == 200
    other = rows(graph, {"_sort": "area_mean", "_size": 10, "_next": cursor})
    assert other.status_code == 400
    assert error_of(other)["parameter"] == "_next"


# filtered plots ----------------------------------------------------------------------------------


def test_a_filtered_histogram_counts_only_the_matching_cases(graph: str) -> None:
    params = {"feature": "area_mean", "bins": 12, "diagnosis": "M", "radius_mean__gt": "15", "format": "json"}
    numbers = requests.get(f"{graph}/graph/histogram", params=params, timeout=60).json()

    chosen = FRAME[(FRAME.diagnosis == "M") & (FRAME.radius_mean > 15)]
    counts, edges = np.histogram(chosen["area_mean"], bins=12)
    assert numbers["edges"] == pytest.approx(edges.tolist())
    assert numbers["counts"] == {"benign": [0] * 12, "malignant": counts.tolist()}
    assert numbers["count"] == len(chosen)
    assert numbers["filter"] == {
        "diagnosis": "M",
        "conditions": [{"feature": "radius_mean", "op": "gt", "value": 15.0}],
    }
    assert numbers["title"].endswith(f"malignant, radius_mean > 15 ({len(chosen)} cases)")


def test_the_filter_is_part_of_the_cache_key_and_the_etag(graph: str) -> None:
    path = f"{graph}/graph/box"
    plain = requests.get(path, params={"feature": "texture_se", "width": 300, "height": 200}, timeout=60)
    filtered = requests.get(
        path,
        params={"feature": "texture_se", "width": 300, "height": 200, "texture_mean__lt": 18},
        timeout=60,
    )
    spelt_otherwise = requests.get(
        path,
        params={"texture_mean__lt": "18.0", "feature": "texture_se", "width": 300, "height": 200},
        timeout=60,
    )
    assert plain.status_code == filtered.status_code == 200
    assert filtered.headers["ETag"] != plain.headers["ETag"]
    assert filtered.content != plain.content
    assert spelt_otherwise.headers["ETag"] == filtered.headers["ETag"]
    assert spelt_otherwise.headers["X-Cache"] == "hit"


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("histogram", {"feature": "radius_mean"}),
        ("scatter", {"x": "radius_mean", "y": "texture_mean", "trend": "true"}),
        ("box", {"feature": "area_mean", "kind": "violin"}),
        ("correlation", {"features": "radius_mean,texture_mean,area_mean"}),
        ("pairs", {"features": "radius_mean,texture_mean"}),
    ],
)
def test_every_plot_takes_the_filters(graph: str, route: str, params: dict) -> None:
    filtered = {**params, "diagnosis": "B", "concave points_worst__lt": "0.1"}
    picture = requests.get(
        f"{graph}/graph/{route}", params={**filtered, "width": 400, "height": 300}, timeout=60
    )
    numbers = requests.get(f"{graph}/graph/{route}", params={**filtered, "format": "json"}, timeout=60).json()

    assert picture.status_code == 200
    assert picture.headers["Content-Type"] == "image/png"
    expected = int(((FRAME.diagnosis == "B") & (FRAME.concave_points_worst < 0.1)).sum())
    assert numbers["count"] == expected
    assert numbers["filter"]["conditions"] == [{"feature": "concave_points_worst", "op": "lt", "value": 0.1}]
    assert f"benign, concave_points_worst < 0.1 ({expected} cases)" in numbers["title"]


def test_an_empty_selection_is_a_404_not_an_empty_axis(graph: str) -> None:
    response = requests.get(f"{graph}/graph/histogram", params={"radius_mean__gt": 1000}, timeout=30)
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "empty_selection"
    assert "radius_mean > 1000" in error["message"]
    assert error["count"] == 0


def test_a_bad_filter_on_a_plot_is_a_400(graph: str) -> None:
    response = requests.get(f"{graph}/graph/histogram", params={"radius_mean__between": 3}, timeout=30)
    assert response.status_code == 400
    assert error_of(response)["parameter"] == "radius_mean__between"


# a job's neighbours ------------------------------------------------------------------------------


def test_a_jobs_neighbours_are_its_five_nearest_cases_by_id(services: dict[str, str]) -> None:
    sample = {"radius_mean": 14.5, "texture_mean": 20.0, "concave points_mean": 0.05}
    job = requests.post(f"{services['submit']}/submit", json=sample, timeout=60).json()
    summary = requests.get(job["result_url"], params={"format": "json"}, timeout=30).json()
    neighbours = summary["neighbours"]

    features = ["radius_mean", "texture_mean", "concave_points_mean"]
    values = FRAME[features].to_numpy()
    target = np.array([14.5, 20.0, 0.05])
    distance = np.sqrt((((values - target) / values.std(axis=0)) ** 2).sum(axis=1))
    order = np.lexsort((FRAME["id"].to_numpy(), distance))[:5]
    assert [c["id"] for c in neighbours["cases"]] == FRAME["id"].to_numpy()[order].tolist()
    assert [c["diagnosis"] for c in neighbours["cases"]] == FRAME["diagnosis"].to_numpy()[order].tolist()
    assert [c["distance"] for c in neighbours["cases"]] == pytest.approx(distance[order].tolist())
    assert neighbours["malignant"] == sum(c["diagnosis"] == "M" for c in neighbours["cases"])
    assert "lower case id" in neighbours["tie_rule"]
    case = requests.get(f"{services['graph']}/dataset/rows/{neighbours['cases'][0]['id']}", timeout=30)
    assert case.json()["diagnosis"] == neighbours["cases"][0]["diagnosis"]


# data sets stored before ids were kept ---------------------------------------------------------------


def test_the_bundled_data_set_stored_without_ids_is_loaded_again(redis_db) -> None:
    meta = load_file(redis_db, BUNDLED_DATASET)
    redis_db.delete(column_key(meta["version"], ID))  # as the loader left it before ids were kept

    ids = ColumnCache(redis_db, BUNDLED_DATASET).ids()

    assert ids.tolist() == FRAME["id"].tolist()
    assert redis_db.hget(column_key(meta["version"], "meta"), "layout") == b"2"


def test_another_data_set_without_ids_says_to_load_it_again(redis_db, tmp_path) -> None:
    path = tmp_path / "first-100.csv"
    pd.read_csv(BUNDLED_DATASET, dtype=str).iloc[:100].to_csv(path, index=False)
    meta = load_file(redis_db, path)
    redis_db.delete(column_key(meta["version"], ID))

    with pytest.raises(MissingIds, match="load its file again"):
        ColumnCache(redis_db, BUNDLED_DATASET).ids()


def test_behind_a_tls_proxy_the_next_link_keeps_the_clients_scheme(graph: str) -> None:
    page = requests.get(f"{graph}/dataset/rows", headers={"X-Forwarded-Proto": "https"}, timeout=30).json()
    assert page["next"].startswith(f"https://{graph.removeprefix('http://')}/dataset/rows?_next=")
