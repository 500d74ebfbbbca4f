"""The scale data sets (569 to 1,000,000 rows) as Kaggle-format CSV files, made once and kept.

bench/generate_dataset.py makes them: the bundled rows resampled with small noise.
"""

from __future__ import annotations

from pathlib import Path

from bench.generate_dataset import resample, write
from shared.config import BUNDLED_DATASET


def scale_csv(rows: int, directory: Path) -> Path:
    """The CSV with ``rows`` rows: the bundled file for 569, else one generated once."""
    if rows == 569:
        return BUNDLED_DATASET
    path = directory / f"rows-{rows}.csv"
    if not path.exists():
        partial = path.with_suffix(".partial")
        write(resample(BUNDLED_DATASET, rows), partial)
        partial.rename(path)
    return path
