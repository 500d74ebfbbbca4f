"""Make a large data set in Kaggle's format by resampling the bundled rows with small noise.

For tests and benchmarks only: the rows are not real cases. Each row is a real row drawn with
replacement, every feature moved by Gaussian noise of ``noise`` times that feature's standard
deviation (kept at 0 or above), written with 6 significant digits.

    python bench/generate_dataset.py --rows 1000000 --output .bench/wdbc-1m.csv
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

#: The bundled file (found from here, so that the script runs without the project on sys.path).
BUNDLED_DATASET = (
    Path(__file__).resolve().parent.parent / "shared" / "data" / "breast-cancer-wisconsin-data.csv"
)
#: Rows formatted per chunk when writing.
CHUNK_ROWS = 50_000

DEFAULT_ROWS = 1_000_000
DEFAULT_NOISE = 0.02


def resample(source: Path, rows: int, seed: int = 0, noise: float = DEFAULT_NOISE) -> pd.DataFrame:
    """``rows`` rows in the source's columns (``id``, ``diagnosis``, 30 features), ids 1 to ``rows``."""
    real = pd.read_csv(source)
    real = real.loc[:, [c for c in real.columns if not c.startswith("Unnamed:")]]
    features = [c for c in real.columns if c not in ("id", "diagnosis")]
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(real), size=rows)
    values = real[features].to_numpy()[picked]
    values += rng.standard_normal(values.shape) * (noise * real[features].std().to_numpy())
    np.maximum(values, 0.0, out=values)
    frame = pd.DataFrame(values, columns=features)
    frame.insert(0, "diagnosis", real["diagnosis"].to_numpy()[picked])
    frame.insert(0, "id", np.arange(1, rows + 1))
    return frame


def write(frame: pd.DataFrame, path: Path) -> None:
    """Kaggle's layout (a trailing comma on the header); numpy formats numbers much faster than pandas."""
    path.parent.mkdir(parents=True, exist_ok=True)
    features = frame.columns[2:]
    with open(path, "w", newline="") as out:
        out.write(",".join(frame.columns) + ",\n")
        for start in range(0, len(frame), CHUNK_ROWS):
            chunk = frame.iloc[start : start + CHUNK_ROWS]
            numbers = io.StringIO()
            np.savetxt(numbers, chunk[features].to_numpy(), fmt="%.6g", delimiter=",")
            out.writelines(
                f"{ident},{diagnosis},{line}\n"
                for ident, diagnosis, line in zip(
                    chunk["id"], chunk["diagnosis"], numbers.getvalue().splitlines(), strict=True
                )
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=DEFAULT_NOISE, help="noise, in feature std units")
    parser.add_argument("--source", type=Path, default=BUNDLED_DATASET)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if arguments.rows < 1:
        parser.error("--rows must be at least 1")
    started = time.perf_counter()
    write(resample(arguments.source, arguments.rows, arguments.seed, arguments.noise), arguments.output)
    print(f"wrote {arguments.rows:,} rows to {arguments.output} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
