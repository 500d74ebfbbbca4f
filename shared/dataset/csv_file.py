"""Parse and validate a data set CSV in Kaggle's format (the only module that imports pandas)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.dataset.features import FEATURES, csv_name


class DatasetError(ValueError):
    """The CSV is not a usable data set; the message names the row and column at fault."""


@dataclass(frozen=True)
class Dataset:
    version: str
    malignant: np.ndarray  # uint8, 1 = malignant (M), 0 = benign (B)
    columns: dict[str, np.ndarray]  # feature -> float64 values, one per row
    ids: np.ndarray  # int64: each case's id in the file (Kaggle's), unique

    @property
    def rows(self) -> int:
        return len(self.malignant)


def file_version(path: Path) -> str:
    """A data set's version: the sha256 of its file."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _where(frame, row: int) -> str:
    """Name a data row by its line in the file (the header is line 1) and its id, when present."""
    ident = f" (id {frame['id'].iloc[row]})" if "id" in frame.columns else ""
    return f"line {row + 2}{ident}"


def read_dataset_csv(path: Path) -> Dataset:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"id": str, "diagnosis": str}, skipinitialspace=True)
    except (OSError, ValueError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read as CSV: {error}") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    frame = frame.loc[:, [c for c in frame.columns if not c.startswith("Unnamed:")]]
    wanted = ["id", "diagnosis", *(csv_name(f) for f in FEATURES)]
    aliases = {f: csv_name(f) for f in FEATURES}
    frame = frame.rename(columns={f: c for f, c in aliases.items() if f in frame.columns})
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s): {', '.join(missing)}")
    if frame.empty:
        raise DatasetError(f"{path}: no data rows")

    diagnosis = frame["diagnosis"].fillna("").str.strip().str.upper()
    bad = ~diagnosis.isin(["M", "B"])
    if bad.any():
        row = _first_bad(bad.to_numpy())
        value = frame["diagnosis"].iloc[row]
        raise DatasetError(f"{path}: {_where(frame, row)}, column diagnosis: {value!r} is not M or B")

    ids = _ids(path, frame)
    columns: dict[str, np.ndarray] = {}
    for feature in FEATURES:
        name = csv_name(feature)
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            row = _first_bad(bad)
            value = frame[name].iloc[row]
            shown = "an empty cell" if pd.isna(value) else repr(str(value))
            raise DatasetError(f"{path}: {_where(frame, row)}, column {name}: {shown} is not a finite number")
        columns[feature] = values
    return Dataset(file_version(path), (diagnosis == "M").to_numpy(dtype=np.uint8), columns, ids)


def _ids(path: Path, frame) -> np.ndarray:
    """The ``id`` column: whole numbers from 0 to 2**63 - 1, each case's own (they name rows over HTTP)."""
    import pandas as pd

    text = frame["id"].fillna("").str.strip()
    whole = text.str.fullmatch(r"\+?\d{1,18}")
    if not whole.all():
        row = _first_bad(~whole.to_numpy())
        raise DatasetError(
            f"{path}: line {row + 2}, column id: {frame['id'].iloc[row]!r} is not a whole number"
        )
    ids = pd.to_numeric(text).to_numpy(dtype=np.int64)
    repeated = pd.Series(ids).duplicated().to_numpy()
    if repeated.any():
        row = _first_bad(repeated)
        raise DatasetError(f"{path}: line {row + 2}, column id: {ids[row]} is the id of an earlier row")
    return ids
