"""Job pictures from cached backgrounds: each panel's data-set part is drawn once and kept, and a job
is its panels' backgrounds restored onto a canvas (Agg's ``restore_region``) with only the sample's
marks drawn on top (``Axes.draw_artist``): matplotlib's blitting idiom. The palette PNG is made the
same way: each background's palette indices are kept, and only the pixels a mark changed are looked up.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.picture import bands as scatter_bands
from shared.picture import layout as job_picture
from shared.picture import palette
from shared.picture.layout import CELL_AXES, CELL_HEIGHT, CELL_WIDTH, MAX_PANELS, Data, Layout, Panel
from shared.plotting.plots import new_figure

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import BufferRegion, FigureCanvasAgg

#: Panel backgrounds kept, each about 540 KiB (RGBA and palette indices): all 30 histograms with
#: and without a legend and the last few dozen scatters, some 52 MiB at most.
MAX_BACKGROUNDS = 96
#: Scatter axes kept: every feature's x and y axis, about 100 KiB each.
MAX_BANDS = 60


@dataclass(frozen=True)
class Background:
    """A panel's data-set part as pixels and palette indices, with the axes limits it was drawn for."""

    region: BufferRegion
    indices: np.ndarray
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    data_x: tuple[float, float]  # the data's own extent, before margins
    data_y: tuple[float, float]
    legend: tuple[int, int, int, int] | None  # drawn over the sample's mark, so restored after it

    def fits(self, panel: Panel, sample: dict[str, float]) -> bool:
        """Whether the full drawing of ``sample`` keeps these limits (else its mark widens them):
        a line inside the view leaves the view alone, a scatter point inside the data does."""
        if panel.kind == "histogram":
            return self.xlim[0] <= sample[panel.features[0]] <= self.xlim[1]
        x, y = (sample[f] for f in panel.features)
        return self.data_x[0] <= x <= self.data_x[1] and self.data_y[0] <= y <= self.data_y[1]


@cache
def legend_box(kind: str) -> tuple[int, int, int, int]:
    """The pixels a ``kind`` panel's legend covers in its cell, (x1, y1, x2, y2) from the top left,
    the last row and column included, as ``restore_region`` takes them: the same in every cell,
    and exact, as its frame is not anti-aliased."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    axes = job_picture.cell_figure().add_axes(CELL_AXES, frameon=False)
    axes.set_axis_off()
    job_picture.draw_legend(axes, kind).get_frame().set_facecolor("black")  # every pixel it covers inked
    canvas = FigureCanvasAgg(axes.figure)
    canvas.draw()
    rows, columns = np.nonzero(np.asarray(canvas.buffer_rgba())[..., 0] != 255)
    return int(columns.min()), int(rows.min()), int(columns.max()), int(rows.max())  # Agg's: inclusive


def _draw(panel: Panel, data: Data, sample: dict[str, float] | None = None) -> tuple[FigureCanvasAgg, Axes]:
    """Draw ``panel``'s data-set part in a cell of its own; with ``sample``, at the limits its mark needs."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    axes = job_picture.cell_figure().add_axes(CELL_AXES)
    job_picture.draw_data(axes, panel, data)
    if sample is not None:  # the limits the full drawing reaches, without the mark itself
        job_picture.draw_marks(axes, panel, sample).remove()
    canvas = FigureCanvasAgg(axes.figure)
    canvas.draw()
    return canvas, axes


def _capture(
    canvas: FigureCanvasAgg, limits: tuple[tuple[float, float], ...], legend: str | None
) -> Background:
    """The canvas's pixels as a background: ``limits`` are (xlim, ylim, data x extent, data y extent)."""
    import numpy as np

    return Background(
        canvas.copy_from_bbox(canvas.figure.bbox),
        palette.indices(np.asarray(canvas.buffer_rgba())),
        *limits,
        None if legend is None else legend_box(legend),
    )


def draw_background(panel: Panel, data: Data, sample: dict[str, float] | None = None) -> Background:
    """``panel``'s background drawn whole; with ``sample``, at the limits that sample's mark needs."""
    canvas, axes = _draw(panel, data, sample)
    return _capture(canvas, _limits(axes), panel.kind if panel.legend else None)


def _limits(axes: Axes) -> tuple[tuple[float, float], ...]:
    data = axes.dataLim
    return axes.get_xlim(), axes.get_ylim(), (data.x0, data.x1), (data.y0, data.y1)


def _as_words(rgba: np.ndarray) -> np.ndarray:
    """RGBA pixels as one 32-bit word each, to compare them at a quarter of the cost."""
    import numpy as np

    return rgba.view(np.uint32)[..., 0]


class _Canvas:
    """A layout's canvas: its frame (white, and the title), and an invisible axes moved to each cell
    in turn to draw the marks (one axes, not one a cell: an axes costs some 10 ms to make)."""

    def __init__(self, layout: Layout, title: str) -> None:
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        figure = new_figure(*layout.size, layout=None)
        figure.suptitle(title)
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
        self, index: int, panel: Panel, background: Background, sample: dict[str, float], image: np.ndarray
    ) -> None:
        """Cell ``index``: ``background`` restored, the sample's mark drawn over it and beneath the
        legend, and ``image`` given the palette indices of what it shows."""
        import numpy as np

        axes, corner = self.axes, self.layout.cell_corner(index)
        axes.set_position(self.layout.axes_rect(index))
        self.canvas.restore_region(background.region, xy=corner)
        axes.set_xlim(background.xlim)
        axes.set_ylim(background.ylim)
        mark = job_picture.draw_marks(axes, panel, sample)
        axes.draw_artist(mark)
        mark.remove()
        if background.legend is not None:
            self.canvas.restore_region(background.region, background.legend, corner)
        x, y = corner
        cell = (slice(y, y + CELL_HEIGHT), slice(x, x + CELL_WIDTH))
        pixels = np.asarray(self.canvas.buffer_rgba())[cell]
        changed = _as_words(pixels) != _as_words(np.asarray(background.region))
        image[cell] = background.indices
        image[cell][changed] = palette.indices(pixels[changed])


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
    A scatter not seen before is put together from its two axes' bands (``scatter_bands``) when
    both are known; else it is drawn whole, and its axes' bands are kept for the next pairs."""

    def __init__(self, limit: int = MAX_BACKGROUNDS) -> None:
        self._panels = _Recent(limit)
        self._bands = _Recent(MAX_BANDS)
        self._canvases = _Recent(2 * MAX_PANELS)  # a picture's layout: 1 to MAX_PANELS histograms
        self._composer: scatter_bands.Composer | None = None
        self._warmed: set[tuple] = set()
        self._lock = threading.Lock()
        self._jobs = 0  # pictures being drawn or waiting to be: the warm-up waits for none
        self._idle = threading.Condition()
        self._last_picture = time.monotonic()
        self.drawn = self.composed = self.reused = self.whole = 0

    def __len__(self) -> int:
        return len(self._panels)

    def _background(self, key: tuple, panel: Panel, data: Data) -> Background:
        background = self._panels.get((*key, panel))
        if background is not None:
            self.reused += 1
            return background
        plain = self._panels.get((*key, replace(panel, legend=False)))
        if panel.legend and panel.kind == "histogram" and plain is not None:  # that histogram, plus a legend
            self._composer = self._composer or scatter_bands.Composer()
            self.composed += 1
            canvas = self._composer.with_legend(plain.region, panel.kind)
            limits = (plain.xlim, plain.ylim, plain.data_x, plain.data_y)
            return self._panels.keep((*key, panel), _capture(canvas, limits, panel.kind))
        if panel.kind == "scatter":
            x_feature, y_feature = panel.features
            x_band, y_band = self._bands.get((*key, "x", x_feature)), self._bands.get((*key, "y", y_feature))
            if x_band is not None and y_band is not None:
                self._composer = self._composer or scatter_bands.Composer()
                self.composed += 1
                x, y = data.columns[x_feature], data.columns[y_feature]
                canvas = self._composer.scatter(x_band, y_band, x, y, data.malignant)
                limits = (x_band.limits, y_band.limits, x_band.data, y_band.data)
                return self._panels.keep((*key, panel), _capture(canvas, limits, panel.kind))
        return self._panels.keep((*key, panel), self._draw_whole(key, panel, data))

    def _draw_whole(self, key: tuple, panel: Panel, data: Data) -> Background:
        """Draw ``panel`` whole, keeping a scatter's bands for the pairs to come."""
        self.drawn += 1
        canvas, axes = _draw(panel, data)
        if panel.kind == "scatter":
            for name, feature, band in zip(
                "xy", panel.features, scatter_bands.bands(axes, canvas), strict=True
            ):
                if band is not None:
                    self._bands.keep((*key, name, feature), band)
        return _capture(canvas, _limits(axes), panel.kind if panel.legend else None)

    def warm(self, version: str, data: Data) -> int:
        """Draw, one at a time and only while no picture is wanted, every histogram background and
        scatter band of ``columns`` not yet kept, so that later jobs only compose; returns how many."""
        from shared.store.plot_cache import code_version

        key, features = (version, code_version()), list(data.columns)
        title = job_picture.title(data.malignant.size)
        layouts = [
            Layout(len(job_picture.panels(dict.fromkeys(features[:n])))) for n in range(1, MAX_PANELS + 1)
        ]
        histograms_first = [Panel("histogram", (f,), legend) for legend in (False, True) for f in features]
        pairs = zip(features, features[1:] + features[:1], strict=True)
        steps: list[Layout | Panel] = [
            *layouts,
            *histograms_first,
            *(Panel("scatter", p, True) for p in pairs),
        ]
        drawn = 0
        for step in steps:
            with self._idle:
                self._idle.wait_for(lambda: self._jobs == 0)
            with self._lock:
                if isinstance(step, Layout):
                    if (*key, step, title) in self._canvases:
                        continue
                    self._canvas(key, step, title)
                elif step.kind == "histogram":
                    if (*key, step) in self._panels:
                        continue
                    self._background(key, step, data)
                else:
                    banded = all(
                        (*key, n, f) in self._bands for n, f in zip("xy", step.features, strict=True)
                    )
                    if banded or (*key, step) in self._warmed:
                        continue
                    self._warmed.add((*key, step))  # bands that do not fit: drawn once, not at each warm-up
                    self._draw_whole(key, step, data)
                drawn += 1
        return drawn

    @contextmanager
    def busy(self) -> Iterator[None]:
        """While a job is being handled (a picture wanted soon): the warm-up draws nothing meanwhile."""
        with self._idle:
            self._jobs += 1
        try:
            yield
        finally:
            with self._idle:
                self._jobs -= 1
                self._last_picture = time.monotonic()
                self._idle.notify_all()

    def wait_until_idle(self, seconds: float) -> None:
        """Return once no picture has been wanted for ``seconds`` (or since this cache was made)."""
        while True:
            with self._idle:
                self._idle.wait_for(lambda: self._jobs == 0)
                quiet = time.monotonic() - self._last_picture
            if quiet >= seconds:
                return
            time.sleep(seconds - quiet)

    def _canvas(self, key: tuple, layout: Layout, title: str) -> _Canvas:
        canvas = self._canvases.get((*key, layout, title))
        if canvas is None:
            canvas = self._canvases.keep((*key, layout, title), _Canvas(layout, title))
        return canvas

    def png(self, version: str, sample: dict[str, float], data: Data) -> bytes:
        """``sample``'s picture as a palette PNG; ``version`` names the data set the columns are of."""
        from shared.store.plot_cache import code_version

        key = (version, code_version())
        if not self._panels and not self.whole:  # a cold start's first picture: one figure is cheaper,
            self.whole += 1  # and the same bytes; the next picture begins keeping backgrounds
            return full_png(sample, data)
        shown = job_picture.panels(sample)
        with self.busy(), self._lock:  # one canvas per layout, reused
            canvas = self._canvas(key, Layout(len(shown)), job_picture.title(data.malignant.size))
            image = canvas.clear()
            for index, panel in enumerate(shown):
                background = self._background(key, panel, data)
                if not background.fits(panel, sample):  # its mark widens the limits: its own background
                    background = draw_background(panel, data, sample)
                canvas.mark(index, panel, background, sample, image)
            return palette.png(image)


def full_png(sample: dict[str, float], data: Data, palette_colours: bool = True) -> bytes:
    """The same picture drawn whole, every panel at once: the reference, and the benchmark's floor;
    without ``palette_colours``, a full-colour PNG."""
    import io

    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(job_picture.full(sample, data))
    if not palette_colours:
        buffer = io.BytesIO()
        canvas.print_png(buffer)
        return buffer.getvalue()
    canvas.draw()
    return palette.png(palette.indices(np.asarray(canvas.buffer_rgba())))
