"""A grid of panels placed by arithmetic: margins and gaps sized from the texts around the panels,
measured with the fonts' metrics before anything is drawn, instead of a layout engine.

A layout engine (constrained or tight layout) draws a figure once to find where its texts end,
moves the axes, and the figure is drawn again: on a sweep's best-trials grid (16 panels,
optlab.record.sweep_report) that was over half of its drawing (docs/performance.md, "The everyday
loop"). Panels of one size need no search. Around each panel: its title above; below, the x tick
labels (rotated ones as their rotated boxes), the axis's offset ("1e7") and its label; left, the
y tick labels and label (on the first column only when the panels share their y-axis); above
everything the figure's title, below everything the figure's legend. Every other space is a gap
of :data:`EDGE`. A title wider than its panel, or a figure title wider than the figure, widens
the figure rather than overlapping its neighbour or leaving the image.

Usage: ``grid = PanelGrid(fig, n, cols)``, draw into ``grid.axes`` (titles set with ``y=1.0``, so
matplotlib does not search for the title's place either), then ``grid.place(suptitle, legend)``.
"""

from __future__ import annotations

import math

from optlab.record.style import plain_ticks

EDGE = 5.0          # points between two texts, and between a text and the figure's edge
POINTS = 72.0       # points per inch
OFFSET_PAD = 3.0    # points between tick labels and the offset text (matplotlib's Axis.OFFSETTEXTPAD)


class Measure:
    """Sizes in points of a figure's texts, laid out as matplotlib lays them out (its line heights,
    fonts and rotations) on a one-pixel renderer: the metrics without drawing anything."""

    def __init__(self, fig):
        from matplotlib.backends.backend_agg import RendererAgg

        self.fig, self.renderer = fig, RendererAgg(1, 1, fig.dpi)

    def size(self, artist) -> tuple[float, float]:
        """(width, height) of a Text (zero when empty or hidden) or a Legend."""
        if artist is None or not artist.get_visible() or (hasattr(artist, "get_text") and not artist.get_text()):
            return 0.0, 0.0
        box = artist.get_window_extent(self.renderer)
        return box.width * POINTS / self.fig.dpi, box.height * POINTS / self.fig.dpi


def _shown_labels(axis) -> list:
    """The major tick labels an axis will draw: those inside its view, visible and not empty."""
    low, high = sorted(axis.get_view_interval())
    slack = 1e-9 * (high - low)
    locs = axis.get_majorticklocs()
    labels = axis.get_majorticklabels()     # the tick labels the draw reuses, their texts set
    return [t for x, t in zip(locs, labels) if low - slack <= x <= high + slack and t.get_visible() and t.get_text()]


def _decorations(measure: Measure, axis) -> tuple[float, float]:
    """(depth, overhang) in points of an axis's texts: how far they reach out from the panel's
    edge (tick, pad, tick labels, offset, axis label), and how far its widest tick label reaches
    past the panel's ends along it (half of it: labels are centred on their ticks)."""
    from matplotlib import rcParams

    name = axis.axis_name
    along, across = (0, 1) if name == "x" else (1, 0)      # a label's extent along / across the axis
    sizes = [measure.size(t) for t in _shown_labels(axis)]
    depth = rcParams[f"{name}tick.major.size"] + rcParams[f"{name}tick.major.pad"]
    depth += max((s[across] for s in sizes), default=0.0)
    axis.get_offset_text().set_text(axis.get_major_formatter().get_offset())   # what the draw will set
    offset = measure.size(axis.get_offset_text())[1]
    if offset and name == "x":              # a y offset sits above the panel, in the title's band
        depth += OFFSET_PAD + offset
    label = measure.size(axis.label)[across]
    if label:
        depth += axis.labelpad + label
    return depth, max((s[along] for s in sizes), default=0.0) / 2


class PanelGrid:
    """``n`` panels in rows of ``cols`` on ``fig``, the figure ``size`` inches to start from
    (default: ``panel`` inches a panel and half an inch for the figure's title); ``sharey``: one
    y-axis, its tick labels on the first column only."""

    def __init__(self, fig, n: int, cols: int, panel: tuple[float, float] = (3.0, 2.3),
                 size: tuple[float, float] | None = None, sharey: bool = True):
        self.fig, self.n, self.cols, self.sharey = fig, n, cols, sharey
        self.rows = max(1, math.ceil(n / cols))
        self.size = size or (panel[0] * cols, panel[1] * self.rows + 0.5)
        self.gridspec = fig.add_gridspec(self.rows, cols)
        self.axes = []
        for k in range(n):                 # only the panels drawn: no empty axes to build and hide
            ax = fig.add_subplot(self.gridspec[k // cols, k % cols],
                                 sharey=self.axes[0] if sharey and self.axes else None)
            if sharey and k % cols:
                ax.yaxis.set_tick_params(labelleft=False)
            self.axes.append(ax)

    def place(self, suptitle=None, legend=None) -> None:
        """Size the figure and place the panels so that no text overlaps another or leaves the
        figure. ``suptitle``: the figure's title (``fig.suptitle``), put at the top; ``legend``:
        the figure's legend (``fig.legend(loc="lower center")``), put at the bottom."""
        from matplotlib import rcParams

        plain_ticks(self.fig)       # the tick labels as they will be drawn (optlab.record.style)
        measure = Measure(self.fig)
        x_depth, x_over = map(max, zip(*(_decorations(measure, ax.xaxis) for ax in self.axes)))
        y_depth, y_over = map(max, zip(*(_decorations(measure, ax.yaxis)
                                         for ax in self.axes[: 1 if self.sharey else None])))
        titles = [measure.size(ax.title) for ax in self.axes]
        title_w = max(w for w, _ in titles)
        title_band = max(h for _, h in titles)
        title_band += rcParams["axes.titlepad"] if title_band else 0.0
        title_band = max(title_band, y_over)       # the top y tick label reaches above its panel
        sup_w, sup_h = measure.size(suptitle)
        legend_w, legend_h = measure.size(legend)
        if legend is not None:
            legend_h += legend.borderaxespad * legend.prop.get_size_in_points()

        # across: tick labels overhang their panel by half a label; a title wider than its panel,
        # by half the excess
        inner = y_depth if not self.sharey else rcParams["ytick.major.size"]   # the next panel's y-axis
        gap = EDGE + max(x_over + inner, 2 * x_over)   # clear of the next panel's y-axis and x tick labels
        width = self.size[0] * POINTS
        left, right = EDGE + max(y_depth, x_over), EDGE + x_over
        axes_w = (width - left - right - (self.cols - 1) * gap) / self.cols
        if axes_w + gap < title_w + EDGE:          # titles would touch: wider panels, a wider figure
            axes_w = title_w + EDGE - gap
        left, right = max(left, EDGE + (title_w - axes_w) / 2), max(right, EDGE + (title_w - axes_w) / 2)
        width = max(left + right + self.cols * axes_w + (self.cols - 1) * gap, sup_w + 2 * EDGE,
                    legend_w + 2 * EDGE)
        axes_w = (width - left - right - (self.cols - 1) * gap) / self.cols   # a wide figure title: wider panels

        # down: the figure's title, then per row a title band, the panel and its x-axis' texts
        top = EDGE + (sup_h + EDGE if sup_h else 0.0) + title_band
        below = x_depth + EDGE
        bottom = below + (legend_h + EDGE if legend_h else 0.0)
        row_gap = below + title_band
        height = self.size[1] * POINTS
        axes_h = (height - top - bottom - (self.rows - 1) * row_gap) / self.rows
        floor = 0.5 * (self.size[1] * POINTS) / self.rows
        if axes_h < floor:                         # tall texts: keep the panels readable
            axes_h = floor
            height = top + bottom + self.rows * axes_h + (self.rows - 1) * row_gap

        self.fig.set_size_inches(width / POINTS, height / POINTS)
        self.gridspec.update(left=left / width, right=1 - right / width, top=1 - top / height,
                             bottom=bottom / height, wspace=gap / axes_w, hspace=row_gap / axes_h)
        for ax in self.axes:               # update() moves only pyplot's figures' axes
            ax.set_position(ax.get_subplotspec().get_position(self.fig))
        if suptitle is not None:
            suptitle.set(y=1 - EDGE / height, verticalalignment="top")
