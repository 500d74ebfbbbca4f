"""Job pictures put together from kept backgrounds: each panel's data-set part is drawn once and kept,
and a job is its layout's frame with its panels' backgrounds restored onto it (Agg's
``restore_region``) and only the sample's marks drawn on top (``Axes.draw_artist``): matplotlib's
blitting idiom. The palette PNG is made the same way: each background's palette indices are kept,
and only the pixels a mark changed are looked up.

A background depends only on the data-set version, the panel and the drawing code (its key): the
panels' limits come from the data set, never from the sample, so every sample takes this path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.picture import palette
from shared.picture.bands import Band, Composer, bands
from shared.picture.layout import (
    CELL_AXES,
    CELL_HEIGHT,
    CELL_WIDTH,
    MAX_PANELS,
    Data,
    Layout,
    Panel,
    cell_figure,
    frame,
    panels,
)
from shared.picture.marks import draw_marks
from shared.picture.panels import draw_panel

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import BufferRegion, FigureCanvasAgg

#: Panel backgrounds kept, each about 540 KiB (RGBA and palette indices): all 30 histograms and the
#: last few dozen scatters, some 52 MiB at most.
MAX_BACKGROUNDS = 96
#: Scatter axes kept: every feature's x and y axis, about 100 KiB each.
MAX_BANDS = 60


@dataclass(frozen=True)
class Background:
    """A panel's data-set part as pixels and palette indices, with its axes' limits."""

    region: BufferRegion
    indices: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]


def draw_cell(panel: Panel, data: Data) -> tuple[FigureCanvasAgg, Axes]:
    """Draw ``panel``'s data-set part whole, in a cell of its own."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    axes = cell_figure().add_axes(CELL_AXES)
    draw_panel(axes, panel, data)
    canvas = FigureCanvasAgg(axes.figure)
    canvas.draw()
    return canvas, axes


def _capture(canvas: FigureCanvasAgg, axes: Axes) -> Background:
    import numpy as np

    return Background(
        canvas.copy_from_bbox(canvas.figure.bbox),
        palette.indices(np.asarray(canvas.buffer_rgba())),
        axes.get_xlim(),
        axes.get_ylim(),
    )


def _as_words(rgba: np.ndarray) -> np.ndarray:
    """RGBA pixels as one 32-bit word each, to compare them at a quarter of the cost."""
    import numpy as np

    return rgba.view(np.uint32)[..., 0]


class _Canvas:
    """A layout's canvas: its frame (white, the title and the legend), and an invisible axes moved to
    each cell in turn to draw the marks (one axes, not one a cell: an axes costs some 10 ms to make)."""

    def __init__(self, layout: Layout, cases: int) -> None:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        figure = frame(layout, cases)
        self.canvas = FigureCanvasAgg(figure)
        self.canvas.draw()
        self.frame = self.canvas.copy_from_bbox(figure.bbox)
        self.frame_indices = palette.indices(np.asarray(self.canvas.buffer_rgba()))
        self.axes = figure.add_axes(layout.axes_rect(0), frameon=False)
        self.axes.set_axis_off()
        self.layout = layout

    def clear(self) -> np.ndarray:
        """Back to the frame alone; returns the frame's palette indices, to be marked."""
        self.canvas.restore_region(self.frame)
        return self.frame_indices.copy()

    def mark(
        self,
        index: int,
        panel: Panel,
        background: Background,
        sample: dict[str, float],
        data: Data,
        image: np.ndarray,
    ) -> None:
        """Cell ``index``: ``background`` restored, the sample's marks drawn over it, and ``image`` given
        the palette indices of what it shows."""
        import numpy as np

        axes, corner = self.axes, self.layout.cell_corner(index)
        axes.set_position(self.layout.axes_rect(index))
        self.canvas.restore_region(background.region, xy=corner)
        axes.set_xlim(background.xlim)
        axes.set_ylim(background.ylim)
        for mark in draw_marks(axes, panel, sample, data):
            axes.draw_artist(mark)
            mark.remove()
        x, y = corner
        cell = (slice(y, y + CELL_HEIGHT), slice(x, x + CELL_WIDTH))
        pixels = np.asarray(self.canvas.buffer_rgba())[cell]
        changed = _as_words(pixels) != _as_words(np.asarray(background.region))
        image[cell] = background.indices
        image[cell][changed] = palette.indices(pixels[changed])


def _band_keys(key: tuple, scatter: Panel) -> tuple[tuple, tuple]:
    """Where a scatter's x band and y band are kept."""
    x_feature, y_feature = scatter.features
    return (*key, "x", x_feature), (*key, "y", y_feature)


class _Recent(OrderedDict):
    """A mapping that keeps its ``limit`` most recently used items."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def get(self, key: tuple, default: Any = None) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return default

    def keep(self, key: tuple, value: Any) -> Any:
        self[key] = value
        while len(self) > self.limit:
            self.popitem(last=False)
        return value


class Backgrounds:
    """Panel backgrounds by (data-set version, drawing code, panel); the least recently used go first.
    A picture composed from them is the very picture drawn whole, byte for byte.

    A new data-set version or new drawing code is a new key: an old background is never reused.
    A scatter not seen before is put together from its two axes' bands (``bands``) when both are
    known; else it is drawn whole, and its axes' bands are kept for the next pairs."""

    def __init__(self, limit: int = MAX_BACKGROUNDS) -> None:
        self._panels = _Recent(limit)
        self._bands = _Recent(MAX_BANDS)
        self._canvases = _Recent(2 * MAX_PANELS)  # a picture's layout: 1 to MAX_PANELS histograms
        self._composer: Composer | None = None
        self._unbanded: set[tuple] = set()  # scatters whose axes leave their bands: drawn whole once
        self._lock = threading.Lock()  # one drawing at a time: a job's, or a warm-up step
        self._idle = threading.Condition()
        self._jobs = 0  # jobs being handled
        self._handled = 0  # jobs handled so far
        self._owed = 0.0  # seconds jobs' pictures took while the warm-up waited: it may take as long
        self.drawn = self.composed = self.reused = self.whole = 0

    def __len__(self) -> int:
        return len(self._panels)

    @staticmethod
    def _key(version: str) -> tuple[str, str]:
        from shared.store.plot_cache import picture_code_version

        return version, picture_code_version()

    def first_picture(self) -> bool:
        """True once, for a cold cache's first picture: drawn whole, one figure is cheaper than its
        cells, and the same bytes; the next picture begins keeping backgrounds."""
        with self._lock:
            if self._panels or self.whole:
                return False
            self.whole += 1
            return True

    def png(self, version: str, sample: dict[str, float], data: Data) -> bytes:
        """``sample``'s picture as a palette PNG; ``version`` names the data set the columns are of."""
        key, shown = self._key(version), panels(sample)
        with self._lock:  # one canvas per layout, reused
            began = time.monotonic()
            canvas = self._canvas(key, Layout(len(shown)), data.malignant.size)
            image = canvas.clear()
            for index, panel in enumerate(shown):
                canvas.mark(index, panel, self._background(key, panel, data), sample, data, image)
            picture = palette.png(image)
        with self._idle:
            self._owed += time.monotonic() - began
            self._idle.notify_all()
        return picture

    def _background(self, key: tuple, panel: Panel, data: Data) -> Background:
        background = self._panels.get((*key, panel))
        if background is not None:
            self.reused += 1
            return background
        if panel.kind == "scatter":
            x_band, y_band = (self._bands.get(band) for band in _band_keys(key, panel))
            if x_band is not None and y_band is not None:
                self._composer = self._composer or Composer()
                self.composed += 1
                canvas = self._composer.scatter(panel, x_band, y_band, data)
                return self._panels.keep((*key, panel), _capture(canvas, self._composer.axes))
        return self._panels.keep((*key, panel), self._draw_whole(key, panel, data))

    def _draw_whole(self, key: tuple, panel: Panel, data: Data) -> Background:
        """Draw ``panel`` whole, keeping a scatter's bands for the pairs to come."""
        self.drawn += 1
        canvas, axes = draw_cell(panel, data)
        if panel.kind == "scatter":
            kept: tuple[Band | None, Band | None] = bands(axes, canvas)
            for name, feature, band in zip("xy", panel.features, kept, strict=True):
                if band is not None:
                    self._bands.keep((*key, name, feature), band)
            if None in kept:
                self._unbanded.add((*key, panel))
        return _capture(canvas, axes)

    def _canvas(self, key: tuple, layout: Layout, cases: int) -> _Canvas:
        canvas = self._canvases.get((*key, layout, cases))
        if canvas is None:
            canvas = self._canvases.keep((*key, layout, cases), _Canvas(layout, cases))
        return canvas

    def warm(self, version: str, data: Data) -> int:
        """Draw every layout's frame, histogram background and scatter band of ``data`` not yet kept,
        so that later jobs only compose; returns how many steps drew. A step is taken while no job is
        being handled, and while jobs keep coming, for as long as their pictures took (a step at
        least after each): a steady stream of jobs shares the time with the warm-up, never stops it."""
        key, features = self._key(version), list(data.histograms)
        cases = data.malignant.size
        layouts = {Layout(len(panels(dict.fromkeys(features[:n])))) for n in range(1, MAX_PANELS + 1)}
        histograms = [Panel("histogram", (f,)) for f in features]
        pairs = [Panel("scatter", p) for p in zip(features, features[1:] + features[:1], strict=True)]
        drawn = 0
        for step in [*sorted(layouts, key=lambda layout: layout.panels), *histograms, *pairs]:
            if self._kept(key, step, cases):
                continue
            self._wait_for_turn()
            began = time.monotonic()
            with self._lock:
                if self._kept(key, step, cases):  # a job drew it meanwhile: it is not drawn again
                    continue
                if isinstance(step, Layout):
                    self._canvas(key, step, cases)
                else:
                    self._panels.keep((*key, step), self._draw_whole(key, step, data))
                drawn += 1
            with self._idle:
                self._owed = max(0.0, self._owed - (time.monotonic() - began))
        return drawn

    def _kept(self, key: tuple, step: Layout | Panel, cases: int) -> bool:
        """Whether a warm-up step has nothing left to draw: a layout's frame or a histogram kept, a
        scatter's two bands kept (or its axes known to leave them)."""
        if isinstance(step, Layout):
            return (*key, step, cases) in self._canvases
        if step.kind == "histogram":
            return (*key, step) in self._panels
        return all(band in self._bands for band in _band_keys(key, step)) or (*key, step) in self._unbanded

    def wait_for_first_job(self, seconds: float) -> None:
        """Return once a job has been handled, or after ``seconds`` without one: a cold start's own
        job goes first, alone. (Only the first: after it, the warm-up takes turns with the jobs.)"""
        with self._idle:
            self._idle.wait_for(lambda: self._handled > 0, timeout=seconds)

    def _wait_for_turn(self) -> None:
        """Until no job is being handled, a job has been since, or the jobs' pictures owe it time."""
        with self._idle:
            handled = self._handled
            self._idle.wait_for(lambda: self._jobs == 0 or self._handled > handled or self._owed > 0)

    @contextmanager
    def busy(self) -> Iterator[None]:
        """While a job is being handled (a picture wanted soon): the warm-up waits for it."""
        with self._idle:
            self._jobs += 1
        try:
            yield
        finally:
            with self._idle:
                self._jobs -= 1
                self._handled += 1
                self._idle.notify_all()
