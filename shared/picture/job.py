"""A job's picture, from top to bottom: where the sample sits among the diagnosed cases.

1. ``layout``: the panels a sample gets (a histogram per feature, up to six, and a scatter of the
   first two), their cells, and the frame (the title, and the one legend in a strip of its own).
2. ``panels``: each panel's data-set part, at limits fixed by the data set whatever the sample.
3. ``marks``: the sample's line or star, at the panel's edge with its value when off the scale.
4. ``backgrounds``: the data-set parts kept, and a picture put together from them and its marks
   (``bands``: a scatter from its two axes); ``palette``: the fixed 256 colours of the PNG.

``figure`` draws the whole picture at once: the reference, byte for byte, for the composed one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.picture import palette
from shared.picture.backgrounds import Backgrounds
from shared.picture.layout import Data, Layout, frame, panels
from shared.picture.marks import draw_marks
from shared.picture.panels import draw_panel

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def figure(sample: dict[str, float], data: Data) -> Figure:
    """The whole picture drawn at once: the frame, then each panel's data-set part and its marks."""
    shown = panels(sample)
    layout = Layout(len(shown))
    whole = frame(layout, data.malignant.size)
    for index, panel in enumerate(shown):
        axes = whole.add_axes(layout.axes_rect(index))
        draw_panel(axes, panel, data)
        draw_marks(axes, panel, sample, data)
    return whole


def full_png(sample: dict[str, float], data: Data, palette_colours: bool = True) -> bytes:
    """The picture drawn whole as a palette PNG; without ``palette_colours``, a full-colour PNG."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure(sample, data))
    if not palette_colours:
        buffer = io.BytesIO()
        canvas.print_png(buffer)
        return buffer.getvalue()
    canvas.draw()
    return palette.png(palette.indices(np.asarray(canvas.buffer_rgba())))


def png(version: str, sample: dict[str, float], data: Data, backgrounds: Backgrounds) -> bytes:
    """``sample``'s picture put together from ``backgrounds`` (a cold cache's first one drawn whole);
    ``version`` names the data set ``data`` is of."""
    if backgrounds.first_picture():
        return full_png(sample, data)
    return backgrounds.png(version, sample, data)
