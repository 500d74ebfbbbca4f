"""A 1,000,000-row data set (resampled real rows with small noise) loads, and every route draws it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from conftest import FunctionProcesses
from PIL import Image

from bench.generate_dataset import resample, write
from devtools.devserver import stop
from shared.config import BUNDLED_DATASET
from shared.dataset.columns import load_file
from shared.dataset.features import FEATURES, csv_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROWS = 1_000_000
BIG_DB = 13  # a database of the tests' own redis-server, emptied afterwards


@dataclass
class BigDataset:
    csv: Path
    meta: dict
    graph: str
    redis: object
    graph_pid: int

    def graph_peak_rss_mib(self) -> float:
        """The peak resident memory (VmHWM) of graph's worker, the process that answers."""
        children = Path(f"/proc/{self.graph_pid}/task/{self.graph_pid}/children").read_text().split()
        status = Path(f"/proc/{children[0]}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) / 1024


@pytest.fixture(scope="module")
def big(redis_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigDataset]:
    csv = tmp_path_factory.mktemp("big") / "wdbc-1m.csv"
    write(resample(BUNDLED_DATASET, ROWS, seed=1), csv)
    client = redis_server.client(BIG_DB)
    client.flushdb()
    meta = load_file(client, csv)
    functions = FunctionProcesses(tmp_path_factory.mktemp("big-logs"))
    graph = functions.start("graph", {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/{BIG_DB}"})
    try:
        yield BigDataset(csv, meta, graph, client, functions.processes[-1].pid)
    finally:
        stop(functions.processes)
        client.flushdb()


def get(big: BigDataset, path: str, **params) -> requests.Response:
    response = requests.get(f"{big.graph}{path}", params=params, timeout=120)
    assert response.status_code == 200, response.text[:300]
    return response


def test_the_generator_resamples_real_rows() -> None:
    real = pd.read_csv(BUNDLED_DATASET)
    exact = resample(BUNDLED_DATASET, 2000, seed=5, noise=0.0)
    features = [csv_name(f) for f in FEATURES]
    real_rows = {tuple(row) for row in real[["diagnosis", *features]].itertuples(index=False)}
    assert all(tuple(row) in real_rows for row in exact[["diagnosis", *features]].itertuples(index=False))

    noisy = resample(BUNDLED_DATASET, 20_000, seed=5)
    assert list(noisy.columns) == ["id", "diagnosis", *features]
    assert set(noisy["diagnosis"]) == {"B", "M"}
    assert (noisy["diagnosis"] == "M").mean() == pytest.approx(212 / 569, abs=0.02)
    assert (noisy[features] >= 0).all().all()
    shift = (noisy[features].mean() - real[features].mean()).abs() / real[features].std()
    assert shift.max() < 0.05  # small noise: each feature's mean moves by a few hundredths of a std
    assert not noisy[features].duplicated().any()  # but no row is a copy


def test_the_loader_accepts_a_million_rows(big: BigDataset) -> None:
    assert big.meta["rows"] == ROWS
    assert sum(big.meta["classes"].values()) == ROWS
    assert get(big, "/dataset").json()["rows"] == ROWS


def test_a_plot_reads_only_the_columns_it_draws(big: BigDataset) -> None:
    sent_before = big.redis.info("stats")["total_net_output_bytes"]
    get(big, "/graph/histogram", feature="smoothness_worst", bins=40, format="json")
    sent = big.redis.info("stats")["total_net_output_bytes"] - sent_before
    one_column, diagnosis = ROWS * 8, ROWS
    assert one_column + diagnosis <= sent < 2 * one_column  # not the 30 columns (240 MB)


def test_histogram_counts_are_numpys_on_a_million_rows(big: BigDataset) -> None:
    frame = pd.read_csv(big.csv, usecols=["diagnosis", "area_mean"])
    numbers = get(big, "/graph/histogram", feature="area_mean", bins=50, format="json").json()
    edges = np.histogram_bin_edges(frame["area_mean"], bins=50)
    assert numbers["edges"] == pytest.approx(edges.tolist())
    for group, code in (("benign", "B"), ("malignant", "M")):
        expected = np.histogram(frame.loc[frame["diagnosis"] == code, "area_mean"], bins=edges)[0]
        assert numbers["counts"][group] == expected.tolist()


def test_scatter_of_a_million_points_is_a_density_and_says_so(big: BigDataset) -> None:
    frame = pd.read_csv(big.csv, usecols=["diagnosis", "radius_mean", "texture_mean"])
    numbers = get(big, "/graph/scatter", x="radius_mean", y="texture_mean", format="json").json()
    assert numbers["mode"] == "density"
    assert "density" in numbers["title"]
    assert numbers["points"] == big.meta["classes"]
    grid = numbers["grid"]
    malignant = frame["diagnosis"] == "M"
    expected = np.histogram2d(
        frame.loc[malignant, "radius_mean"],
        frame.loc[malignant, "texture_mean"],
        bins=(grid["x_edges"], grid["y_edges"]),
    )[0]
    assert grid["counts"]["malignant"] == expected.astype(int).tolist()


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("histogram", {"feature": "radius_mean", "density": "true"}),
        ("scatter", {"x": "radius_mean", "y": "concavity_mean", "trend": "true"}),
        ("scatter", {"x": "radius_mean", "y": "concavity_mean", "hue": "none"}),
        ("box", {"feature": "area_mean"}),
        ("box", {"feature": "area_mean", "kind": "violin"}),
        ("correlation", {"features": "radius_mean,texture_mean,area_mean,concavity_mean"}),
        ("pairs", {"features": "radius_mean,texture_mean,concavity_mean"}),
    ],
)
def test_every_plot_renders_a_million_rows(big: BigDataset, route: str, params: dict) -> None:
    response = get(big, f"/graph/{route}", **params, width=800, height=600)
    image = Image.open(io.BytesIO(response.content))
    assert (image.format, image.size) == ("PNG", (800, 600))


def test_pairs_of_a_million_rows_are_densities(big: BigDataset) -> None:
    numbers = get(big, "/graph/pairs", features="radius_mean,texture_mean", format="json").json()
    assert numbers["mode"] == "density"
    assert "density" in numbers["title"]
    assert set(numbers["grids"]) == {"radius_mean|texture_mean"}


def test_a_million_rows_stream_as_csv_without_the_body_in_memory(big: BigDataset) -> None:
    get(big, "/dataset/rows", _size=1)  # graph now holds every column: the export adds only its chunks
    before = big.graph_peak_rss_mib()
    response = requests.get(f"{big.graph}/dataset/rows", params={"format": "csv"}, timeout=300, stream=True)
    assert response.headers.get("Transfer-Encoding") == "chunked"
    lines, size, picked = 0, 0, {}
    wanted = {1, 500_000, ROWS}  # ids: the generator numbers its rows 1 to ROWS
    for line in response.iter_lines():
        size += len(line)
        if lines and int(line[: line.index(b",")]) in wanted:
            picked[int(line[: line.index(b",")])] = line.decode()
        lines += 1
    growth = big.graph_peak_rss_mib() - before

    assert lines == ROWS + 1  # and the header
    assert growth < 64 < size / 2**20  # the 280 MB body was never held whole
    frame = pd.read_csv(big.csv).loc[:, ["id", "diagnosis", *(csv_name(f) for f in FEATURES)]]
    for ident, line in picked.items():
        row = frame.loc[frame["id"] == ident].iloc[0]
        assert line.split(",")[1] == row["diagnosis"]
        assert [float(v) for v in line.split(",")[2:]] == row.iloc[2:].astype(float).tolist()


def test_a_filtered_page_of_a_million_rows_counts_like_numpy(big: BigDataset) -> None:
    frame = pd.read_csv(big.csv, usecols=["id", "diagnosis", "radius_mean", "area_worst"])
    page = get(
        big, "/dataset/rows", diagnosis="M", radius_mean__gt="20", _sort_desc="area_worst", _size=100
    ).json()

    chosen = frame[(frame["diagnosis"] == "M") & (frame["radius_mean"] > 20)]
    assert page["total"] == len(chosen)
    expected = chosen.sort_values("area_worst", ascending=False, kind="stable")["id"].iloc[:100]
    assert [row["id"] for row in page["rows"]] == expected.tolist()
