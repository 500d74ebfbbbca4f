"""The job pictures' 256 colours: one fixed palette, so that encoding a picture is a lookup, not a quantiser.

A job picture is blends of a few colours (white, black, the two diagnoses', the sample's), so one
palette made from reference pictures by Pillow's maximum-coverage quantiser holds every picture's
colours within a few levels. ``python -m devtools.palette`` makes it again after the drawing changes;
tests/test_job_picture.py fails until it is.
"""

from __future__ import annotations

import io
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
