"""The data set in Redis, column by column, and the in-memory cache of decoded columns.

Layout: ``tumorscope:dataset:current`` holds the version (the CSV's sha256);
``tumorscope:dataset:{<version>}:<feature>`` holds that column as little-endian float64 bytes,
``...:diagnosis`` one byte a row (1 = malignant), ``...:id`` each case's id as little-endian int64,
``...:meta`` a hash of counts, origin and ``layout`` (LAYOUT; data sets stored before ids were kept
have none, and no ``id`` column). A version's keys share the hash tag ``{<version>}``: on a Redis
Cluster they are in one slot.

Command line: ``python -m shared.dataset load PATH`` or ``python -m shared.dataset info``.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from shared.dataset.features import FEATURES

if TYPE_CHECKING:
    import numpy as np

    from shared.dataset.csv_file import Dataset

PREFIX = "tumorscope:dataset"
CURRENT = f"{PREFIX}:current"
DIAGNOSIS = "diagnosis"
ID = "id"
#: The key layout's number, kept in each version's meta hash: 2 added the ``id`` column.
LAYOUT = 2
#: How long the columns of a replaced version stay, for requests that started on it.
RETIRED_TTL_SECONDS = 3600


class NoDataset(Exception):
    """No data set is loaded in Redis and none could be loaded."""


class MissingIds(NoDataset):
    """The loaded data set was stored before case ids were kept: it must be loaded again."""


def column_key(version: str, name: str) -> str:
    """One column (or ``meta``) of a version; a version's keys share its hash tag, and so one slot."""
    return f"{PREFIX}:{{{version}}}:{name}"


def current_version(client: redis.Redis) -> str | None:
    version = client.get(CURRENT)
    return version.decode() if version else None


def store(client: redis.Redis, dataset: Dataset, source: str) -> None:
    """Write every column, then point ``current`` at the new version (readers never see half)."""
    version = dataset.version
    columns = {
        **{f: dataset.columns[f].astype("<f8") for f in FEATURES},
        DIAGNOSIS: dataset.malignant,
        ID: dataset.ids.astype("<i8"),
    }
    for name, values in columns.items():  # one column per round trip keeps each message bounded
        client.set(column_key(version, name), values.tobytes())
    malignant = int(dataset.malignant.sum())
    client.hset(
        column_key(version, "meta"),
        mapping={
            "rows": dataset.rows,
            "benign": dataset.rows - malignant,
            "malignant": malignant,
            "source": source,
            "loaded_at": time.time(),
            "layout": LAYOUT,
        },
    )
    previous = client.set(CURRENT, version, get=True)
    if previous and previous.decode() != version:
        with client.pipeline(transaction=False) as pipe:
            for name in [*columns, "meta"]:
                pipe.expire(column_key(previous.decode(), name), RETIRED_TTL_SECONDS)
            pipe.persist(CURRENT)
            pipe.execute()
    for name in [*columns, "meta"]:  # a version loaded again after it was retired stays
        client.persist(column_key(version, name))


def load_file(client: redis.Redis, path: Path) -> dict[str, Any]:
    """Parse, validate and store the CSV at ``path``; return its metadata."""
    from shared.dataset.csv_file import read_dataset_csv

    dataset = read_dataset_csv(path)
    store(client, dataset, source=Path(path).name)
    return info(client, dataset.version)


def ensure_loaded(client: redis.Redis, path: Path, wait_seconds: float = 60) -> str:
    """The current version; if Redis has none, load ``path`` first (once, under a lock)."""
    version = current_version(client)
    if version:
        return version
    with client.lock(f"{PREFIX}:loading", timeout=120, blocking_timeout=wait_seconds):
        version = current_version(client)
        if version is None:
            version = load_file(client, path)["version"]
    return version


def info(client: redis.Redis, version: str | None = None) -> dict[str, Any]:
    version = version or current_version(client)
    meta = client.hgetall(column_key(version, "meta")) if version else {}
    if not meta:
        raise NoDataset("no data set is loaded")
    fields = {k.decode(): v.decode() for k, v in meta.items()}
    return {
        "version": version,
        "rows": int(fields["rows"]),
        "classes": {"benign": int(fields["benign"]), "malignant": int(fields["malignant"])},
        "source": fields["source"],
    }


class ColumnCache:
    """Decoded columns of the current version, fetched from Redis only the first time."""

    def __init__(self, client: redis.Redis, bundled_path: Path) -> None:
        self.redis = client
        self.bundled_path = bundled_path
        self._version: str | None = None
        self._columns: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def version(self) -> str:
        """The current version (one GET), loading the bundled data set if Redis has none."""
        return ensure_loaded(self.redis, self.bundled_path)

    def columns(self, names: Iterable[str], version: str | None = None) -> dict[str, np.ndarray]:
        """The named columns (features, ``id`` as int64, ``diagnosis`` as a boolean ``malignant`` array)."""
        import numpy as np

        version = version or self.version()
        wanted = list(dict.fromkeys(names))
        with self._lock:
            if version != self._version:
                self._version, self._columns = version, {}
            missing = [n for n in wanted if n not in self._columns]
            for name in missing:
                # One GET a column, not one MGET: redis-py buffers a whole reply before it splits
                # it, so an MGET of 30 columns of 1,000,000 rows peaked at twice their 240 MB.
                value = self.redis.get(column_key(version, name))
                if value is None and name == ID:
                    raise MissingIds(
                        f"data set {version[:12]} was loaded before case ids were kept; "
                        "load its file again (python -m shared.dataset load PATH)"
                    )
                if value is None:
                    raise NoDataset(f"data set {version} is incomplete in Redis; load it again")
                if name == ID:
                    self._columns[name] = np.frombuffer(value, dtype="<i8")
                elif name == DIAGNOSIS:
                    self._columns[name] = np.frombuffer(value, dtype=np.uint8).astype(bool)
                else:
                    self._columns[name] = np.frombuffer(value, dtype="<f8")
            return {n: self._columns[n] for n in wanted}

    def ids(self, version: str | None = None) -> np.ndarray:
        """Each row's case id. A data set stored before ids were kept is loaded again from
        ``bundled_path`` (DATASET_PATH) when that is its file; otherwise MissingIds."""
        from shared.dataset.csv_file import file_version

        version = version or self.version()
        try:
            return self.columns([ID], version)[ID]
        except MissingIds:
            if file_version(self.bundled_path) != version:
                raise
        with self.redis.lock(f"{PREFIX}:loading", timeout=120, blocking_timeout=60):
            if not self.redis.exists(column_key(version, ID)):
                load_file(self.redis, self.bundled_path)
        return self.columns([ID], version)[ID]


def main(argv: list[str] | None = None) -> int:
    from shared.config import load_config
    from shared.dataset.csv_file import DatasetError
    from shared.store.redis_client import connect

    parser = argparse.ArgumentParser(prog="python -m shared.dataset", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load a CSV in Kaggle's format into Redis")
    load.add_argument(
        "path", type=Path, nargs="?", help="the CSV (default: DATASET_PATH, else the bundled file)"
    )
    commands.add_parser("info", help="print the loaded data set's version and counts")
    arguments = parser.parse_args(argv)

    config = load_config()
    client = connect(config.redis_url, timeout_seconds=30)
    try:
        if arguments.command == "load":
            path = arguments.path or config.dataset_path
            started = time.perf_counter()
            meta = load_file(client, path)
            print(
                f"loaded {meta['rows']} rows ({meta['classes']['benign']} benign, "
                f"{meta['classes']['malignant']} malignant) from {path} "
                f"in {time.perf_counter() - started:.2f} s; version {meta['version']}"
            )
        else:
            meta = info(client)
            print(f"version {meta['version']}: {meta['rows']} rows {meta['classes']} from {meta['source']}")
    except (DatasetError, NoDataset) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except redis.exceptions.ConnectionError as error:
        print(f"error: cannot reach Redis (REDIS_URL): {error}", file=sys.stderr)
        return 2
    return 0
