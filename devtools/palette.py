"""Make the job pictures' palette (shared/picture/job-palette.txt) again: ``python -m devtools.palette``.

The palette is what Pillow's maximum-coverage quantiser makes of reference pictures of the bundled
data set: every feature's histogram, six at a time, with a sample in range and one off the scale
(so the marks' labels are in). Run it after the drawing changes; tests/test_job_picture.py fails
until the file is what this makes.
"""

from __future__ import annotations

import sys

from shared.picture.palette import COLOURS, PALETTE_PATH

#: Features a reference picture shows: six at a time, so that every feature's histogram is in one.
REFERENCE_FEATURES = 6


def make() -> list[str]:
    """The palette of the reference pictures of the bundled data set, as ``#rrggbb`` strings."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    from shared.config import BUNDLED_DATASET
    from shared.dataset.csv_file import read_dataset_csv
    from shared.dataset.features import FEATURES
    from shared.picture import job
    from shared.picture.layout import picture_data

    dataset = read_dataset_csv(BUNDLED_DATASET)
    columns, malignant = dataset.columns, dataset.malignant.astype(bool)
    pictures = []
    for first in range(0, len(FEATURES), REFERENCE_FEATURES):
        shown = FEATURES[first : first + REFERENCE_FEATURES]
        data = picture_data(columns, malignant, shown)
        median = {f: float(np.median(columns[f])) for f in shown}
        off_scale = {**median, shown[0]: 2 * float(columns[shown[0]].max())}
        for sample in (median, off_scale):
            canvas = FigureCanvasAgg(job.figure(sample, data))
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
