"""The data set: Kaggle's CSV parsed and validated, stored in Redis column by column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from devtools.devserver import ROOT
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import (
    CURRENT,
    ColumnCache,
    column_key,
    current_version,
    ensure_loaded,
    info,
    load_file,
)
from shared.dataset.csv_file import DatasetError, read_dataset_csv
from shared.dataset.features import FEATURES

BUNDLED_SHA256 = "1425d9affa78ba8e53afc81d0ef8a19069ee10c4b21fe89b3cf514071b12ee33"


def write_variant(tmp_path: Path, change) -> Path:
    """A copy of the bundled CSV with one change applied to its pandas frame."""
    frame = pd.read_csv(BUNDLED_DATASET, dtype={"id": str}).drop(columns=["Unnamed: 32"])
    frame = change(frame) if change else frame
    path = tmp_path / "variant.csv"
    frame.to_csv(path, index=False)
    return path


def test_the_bundled_file_parses_to_569_rows_under_its_sha256() -> None:
    dataset = read_dataset_csv(BUNDLED_DATASET)
    assert dataset.version == BUNDLED_SHA256
    assert dataset.rows == 569
    assert int(dataset.malignant.sum()) == 212
    assert set(dataset.columns) == set(FEATURES)
    assert dataset.columns["concave_points_mean"][0] == pytest.approx(0.1471)


def set_cell(row: int, column: str, value):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_cell(4, "radius_mean", "abc"),
            r"line 6 \(id 84358402\), column radius_mean: 'abc' is not a finite",
        ),
        (set_cell(0, "area_se", None), r"line 2 \(id 842302\), column area_se: an empty cell"),
        (set_cell(1, "texture_worst", "inf"), r"line 3 .*column texture_worst"),
        (set_cell(2, "diagnosis", "X"), r"line 4 .*column diagnosis: 'X' is not M or B"),
        (lambda f: f.drop(columns=["symmetry_se"]), r"missing column\(s\): symmetry_se"),
        (lambda f: f.drop(columns=["id"]), r"missing column\(s\): id"),
        (set_cell(3, "id", "84348301b"), r"line 5, column id: '84348301b' is not a whole number"),
        (set_cell(7, "id", "842302"), r"line 9, column id: 842302 is the id of an earlier row"),
        (lambda f: f.iloc[0:0], r"no data rows"),
    ],
)
def test_a_bad_csv_is_refused_naming_the_row_and_column(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        read_dataset_csv(write_variant(tmp_path, change))


def test_underscore_spelling_and_no_trailing_column_are_accepted(tmp_path: Path) -> None:
    path = write_variant(tmp_path, lambda f: f.rename(columns=lambda c: c.replace(" ", "_")))
    assert read_dataset_csv(path).rows == 569


def test_loading_writes_columns_then_points_current_at_the_version(redis_db) -> None:
    meta = load_file(redis_db, BUNDLED_DATASET)

    assert meta == {
        "version": BUNDLED_SHA256,
        "rows": 569,
        "classes": {"benign": 357, "malignant": 212},
        "source": BUNDLED_DATASET.name,
    }
    assert current_version(redis_db) == BUNDLED_SHA256
    raw = redis_db.get(column_key(BUNDLED_SHA256, "radius_mean"))
    assert len(raw) == 569 * 8
    assert np.frombuffer(raw, "<f8")[0] == pytest.approx(17.99)
    ids = np.frombuffer(redis_db.get(column_key(BUNDLED_SHA256, "id")), "<i8")
    assert ids[:2].tolist() == [842302, 842517]  # Kaggle's ids, kept with the columns
    assert redis_db.hget(column_key(BUNDLED_SHA256, "meta"), "layout") == b"2"


def test_a_new_version_replaces_the_old_which_then_expires(redis_db, tmp_path: Path) -> None:
    load_file(redis_db, BUNDLED_DATASET)
    smaller = write_variant(tmp_path, lambda f: f.iloc[:100])

    meta = load_file(redis_db, smaller)

    assert meta["rows"] == 100
    assert current_version(redis_db) == meta["version"] != BUNDLED_SHA256
    assert redis_db.ttl(column_key(BUNDLED_SHA256, "radius_mean")) > 0
    assert redis_db.ttl(column_key(meta["version"], "radius_mean")) == -1
    assert redis_db.ttl(CURRENT) == -1


def test_the_column_cache_fetches_only_what_is_asked_and_follows_the_version(
    redis_db, tmp_path: Path
) -> None:
    load_file(redis_db, BUNDLED_DATASET)
    cache = ColumnCache(redis_db, BUNDLED_DATASET)

    columns = cache.columns(["area_mean", "diagnosis"])
    assert set(columns) == {"area_mean", "diagnosis"}
    assert columns["diagnosis"].dtype == bool
    assert int(columns["diagnosis"].sum()) == 212

    load_file(redis_db, write_variant(tmp_path, lambda f: f.iloc[:10]))
    assert cache.columns(["area_mean"])["area_mean"].size == 10


def test_an_empty_redis_gets_the_bundled_data_set_on_first_use(redis_db) -> None:
    assert current_version(redis_db) is None
    assert ensure_loaded(redis_db, BUNDLED_DATASET) == BUNDLED_SHA256
    assert info(redis_db)["rows"] == 569


def test_the_command_line_loads_a_file_and_reports_it(redis_server, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/2"}
    loaded = subprocess.run(
        [sys.executable, "-m", "shared.dataset", "load", str(BUNDLED_DATASET)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "loaded 569 rows (357 benign, 212 malignant)" in loaded.stdout
    assert BUNDLED_SHA256 in loaded.stdout

    broken = write_variant(tmp_path, set_cell(0, "radius_mean", "n/a"))
    refused = subprocess.run(
        [sys.executable, "-m", "shared.dataset", "load", str(broken)], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 1
    assert "column radius_mean" in refused.stderr
    assert "Traceback" not in refused.stderr
    redis_server.client(db=2).flushdb()
