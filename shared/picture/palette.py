"""The job pictures' 256 colours: one fixed palette, so that encoding a picture is a lookup, not a quantiser.

A job picture is blends of a few colours (white, black, the two diagnoses', the sample's), so one
palette made from reference pictures by Pillow's maximum-coverage quantiser holds every picture's
colours within a few levels. ``python -m shared.picture.palette`` makes it again after the drawing changes;
tests/test_job_picture.py fails until it is.
"""

from __future__ import annotations

import io
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

PALETTE_PATH = Path(__file__).parent / "job-palette.txt"
COLOURS = 256
WHITE = 0xFFFFFF
#: zlib's level: 6 takes a six-panel picture to 40 KiB in 8 ms (8: 37 KiB in 20 ms; 9: 36 KiB in 50 ms).
COMPRESS_LEVEL = 6
#: Features a reference picture shows: six at a time, so that every feature's histogram is in one.
REFERENCE_FEATURES = 6


@cache
def colours() -> np.ndarray:
    """The palette as a (256, 3) array of RGB levels."""
    import numpy as np

    levels = b"".join(bytes.fromhex(c.removeprefix("#")) for c in PALETTE_PATH.read_text().split())
    return np.frombuffer(levels, dtype=np.uint8).reshape(-1, 3)


def indices(rgb: np.ndarray) -> np.ndarray:
    """Each pixel's nearest palette colour, exactly: Pillow's own lookup rounds each channel to 5 bits
    (white came out as 249, 250, 251). Each colour is looked up once, and white (most of a picture)
    not at all."""
    import numpy as np

    pixels = rgb.reshape(-1, rgb.shape[-1])[:, :3].astype(np.uint32)
    packed = pixels[:, 0] << 16 | pixels[:, 1] << 8 | pixels[:, 2]
    found = np.full(packed.shape, _nearest(WHITE), dtype=np.uint8)
    coloured = packed != WHITE
    unique, inverse = np.unique(packed[coloured], return_inverse=True)
    found[coloured] = np.array([_nearest(int(c)) for c in unique], dtype=np.uint8)[inverse]
    return found.reshape(rgb.shape[:-1])


@cache
def _nearest(packed: int) -> int:
    """The index of the palette colour nearest a 0xRRGGBB colour (a picture has a few thousand)."""
    import numpy as np

    levels = np.array([packed >> 16, packed >> 8 & 255, packed & 255], dtype=np.int32)
    return int(((colours().astype(np.int32) - levels) ** 2).sum(axis=1).argmin())


def png(image: np.ndarray) -> bytes:
    """A picture of palette indices (``indices``) as a PNG."""
    from PIL import Image

    picture = Image.fromarray(image, "P")
    picture.putpalette(colours().tobytes())
    buffer = io.BytesIO()
    picture.save(buffer, "png", compress_level=COMPRESS_LEVEL)
    return buffer.getvalue()


def make() -> list[str]:
    """The palette of the reference pictures of the bundled data set, as ``#rrggbb`` strings."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from shared.config import BUNDLED_DATASET
    from shared.dataset import analysis
    from shared.dataset.csv_file import read_dataset_csv
    from shared.dataset.features import FEATURES
    from shared.picture import layout as job_picture
    from shared.renderer import HISTOGRAM_BINS

    dataset = read_dataset_csv(BUNDLED_DATASET)
    columns, malignant = dataset.columns, dataset.malignant.astype(bool)
    pictures = []
    for first in range(0, len(FEATURES), REFERENCE_FEATURES):
        sample = {f: float(np.median(columns[f])) for f in FEATURES[first : first + REFERENCE_FEATURES]}
        histograms = {f: analysis.histogram(columns[f], malignant, HISTOGRAM_BINS) for f in sample}
        canvas = FigureCanvasAgg(job_picture.full(sample, job_picture.Data(columns, malignant, histograms)))
        canvas.draw()
        pictures.append(np.asarray(canvas.buffer_rgba())[..., :3])
    mosaic = Image.fromarray(np.concatenate(pictures, axis=0))
    palette = mosaic.quantize(COLOURS, method=Image.Quantize.MAXCOVERAGE).getpalette()[: 3 * COLOURS]
    colours = [bytes(palette[i : i + 3]).hex() for i in range(0, len(palette), 3)]
    return [f"#{colour}" for colour in colours]


def main() -> int:
    PALETTE_PATH.write_text("\n".join(make()) + "\n")
    print(f"wrote {PALETTE_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
