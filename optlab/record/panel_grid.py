"""A grid of small panels placed by arithmetic: margins and gaps sized from the texts around the
panels, measured with the fonts' metrics before anything is drawn, instead of a layout engine.

A layout engine (constrained or tight layout) draws a figure's texts to find where they end, moves
the axes, and the figure is drawn again: on a sweep's best-trials grid (16 panels,
optlab.record.sweep_report) that was ~40 % of its drawing (docs/performance.md, "The everyday
loop"). Panels of one size need no search: above each its title, below it a row of x tick labels
(and the axis's offset, "1e5"), left of the first column the y tick labels, above them all the
figure's title; every other space is a gap of :data:`EDGE`.

Usage: ``grid = PanelGrid(fig, n, cols)``, draw into ``grid.axes`` (titles set with ``y=1.0``, so
matplotlib does not search for the title's place either), then ``grid.place(suptitle)``.
"""

from __future__ import annotations

import math

EDGE = 5.0          # points between two texts, and between a text and the figure's edge
POINTS = 72.0       # points per inch
OFFSET_PAD = 3.0    # points between the tick labels and the offset text (matplotlib's XAxis.OFFSETTEXTPAD)


class Measure:
    """Sizes of texts in points, laid out as matplotlib lays them out (its own line heights and
    fonts) on a one-pixel renderer: the metrics without drawing anything."""

    def __init__(self, fig):
        from matplotlib.backends.backend_agg import RendererAgg

        self.fig, self.renderer = fig, RendererAgg(1, 1, fig.dpi)

    def size(self, text) -> tuple[float, float]:
        """(width, height) of a Text of the figure."""
        if not text.get_text():
            return 0.0, 0.0
        box = text.get_window_extent(self.renderer)
        return box.width * POINTS / self.fig.dpi, box.height * POINTS / self.fig.dpi

    def string(self, string: str, size) -> tuple[float, float]:
        """(width, height) of ``string`` at font size ``size`` (points or a name, "x-small")."""
        from matplotlib.text import Text

        text = Text(text=string, fontsize=size)
        text.set_figure(self.fig)
        return self.size(text)


def tick_labels(axis) -> tuple[list[str], str]:
    """The major tick labels an axis will show (those inside its view) and its offset text."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * (high - low)
    locs = [x for x in axis.get_majorticklocs() if low - slack <= x <= high + slack]
    formatter = axis.get_major_formatter()
    return list(formatter.format_ticks(locs)), formatter.get_offset()


def _widest(measure: Measure, axes: list) -> tuple[float, float, float]:
    """(widest tick label, a label's height, the tallest offset text: 0 for none) over ``axes``, in
    points; the offset ("1e7", in the axis's own font size) goes below the tick labels."""
    from matplotlib import rcParams

    width = height = offset = 0.0
    for axis in axes:
        labels, off = tick_labels(axis)
        size = axis.get_tick_params().get("labelsize", rcParams[f"{axis.axis_name}tick.labelsize"])
        for s in labels:
            w, h = measure.string(s, size)
            width, height = max(width, w), max(height, h)
        offset = max(offset, measure.string(off, axis.get_offset_text().get_fontsize())[1])
    return width, height, offset


class PanelGrid:
    """``n`` panels in rows of ``cols`` on ``fig``, each about ``panel`` inches (width, height);
    ``sharey``: one y-axis, its tick labels on the first column only."""

    def __init__(self, fig, n: int, cols: int, panel: tuple[float, float] = (3.0, 2.3), sharey: bool = True):
        self.fig, self.n, self.cols, self.panel, self.sharey = fig, n, cols, panel, sharey
        self.rows = max(1, math.ceil(n / cols))
        self.gridspec = fig.add_gridspec(self.rows, cols)
        self.axes = []
        for k in range(n):                 # only the panels drawn: no empty axes to build and hide
            ax = fig.add_subplot(self.gridspec[k // cols, k % cols],
                                 sharey=self.axes[0] if sharey and self.axes else None)
            if sharey and k % cols:
                ax.yaxis.set_tick_params(labelleft=False)
            self.axes.append(ax)

    def place(self, suptitle=None) -> None:
        """Size the figure and place the panels so that no text overlaps another or leaves the
        figure; ``suptitle``: the figure's title (a Text from ``fig.suptitle``), put at the top."""
        from matplotlib import rcParams

        measure = Measure(self.fig)
        x_w, x_h, x_offset = _widest(measure, [ax.xaxis for ax in self.axes])
        y_w, _, _ = _widest(measure, [ax.yaxis for ax in self.axes if ax.yaxis.get_tick_params().get("labelleft", True)])
        titles = [measure.size(ax.title) for ax in self.axes]
        title_w = max((w for w, _ in titles), default=0.0)
        title_band = max((h for _, h in titles), default=0.0)
        title_band += rcParams["axes.titlepad"] if title_band else 0.0
        below = (rcParams["xtick.major.size"] + rcParams["xtick.major.pad"] + x_h
                 + (OFFSET_PAD + x_offset if x_offset else 0.0) + EDGE)
        y_ticks = rcParams["ytick.major.size"] + rcParams["ytick.major.pad"]
        left_band = y_ticks + y_w
        sup_w, sup_h = measure.size(suptitle) if suptitle is not None else (0.0, 0.0)

        # across: tick labels overhang their panel by half a label; a title wider than its panel, by half the excess
        gap = x_w / 2 + EDGE + (left_band if not self.sharey else rcParams["ytick.major.size"])
        width = self.panel[0] * self.cols * POINTS
        left, right = EDGE + left_band, EDGE + x_w / 2
        axes_w = (width - left - right - (self.cols - 1) * gap) / self.cols
        if axes_w + gap < title_w + EDGE:          # titles would touch: wider panels, a wider figure
            axes_w = title_w + EDGE - gap
        left, right = max(left, EDGE + (title_w - axes_w) / 2), max(right, EDGE + (title_w - axes_w) / 2)
        width = max(left + right + self.cols * axes_w + (self.cols - 1) * gap, sup_w + 2 * EDGE)
        axes_w = (width - left - right - (self.cols - 1) * gap) / self.cols   # a wide figure title: wider panels

        # down: the figure's title, then per row a title band, the panel and its tick labels
        top = EDGE + (sup_h + EDGE if sup_h else 0.0) + title_band
        row_gap = below + title_band
        height = (self.panel[1] * self.rows + 0.5) * POINTS
        axes_h = (height - top - below - (self.rows - 1) * row_gap) / self.rows
        if axes_h < 0.5 * self.panel[1] * POINTS:   # a tall title: keep the panels readable
            axes_h = 0.5 * self.panel[1] * POINTS
            height = top + below + self.rows * axes_h + (self.rows - 1) * row_gap

        self.fig.set_size_inches(width / POINTS, height / POINTS)
        self.gridspec.update(left=left / width, right=1 - right / width, top=1 - top / height,
                             bottom=below / height, wspace=gap / axes_w, hspace=row_gap / axes_h)
        for ax in self.axes:               # update() moves only pyplot's figures' axes
            ax.set_position(ax.get_subplotspec().get_position(self.fig))
        if suptitle is not None:
            suptitle.set(y=1 - EDGE / height, verticalalignment="top")
