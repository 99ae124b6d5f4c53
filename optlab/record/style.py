"""One look for every figure optlab draws: sizes that survive a projector, a colour-blind-safe
palette, and a line style per series so that curves lying on top of each other stay visible.

- Colours: Okabe & Ito's palette ("Color Universal Design", 2002), eight hues told apart with
  every common colour-vision deficiency; black is kept for references (targets, minima).
- Line styles and markers cycle with a different period than the colours (4 and 5 against 7):
  Momentum and Nesterov, whose curves nearly coincide, differ in colour, dash and marker.
- Fonts: 13 pt labels, 14 pt titles at the figures' 7-inch width; 1.8 pt lines.
- Text: plain, never mathtext: a ``$`` in a label is a dollar sign.

:func:`styled` applies it while figures are built (``matplotlib.rc_context``: no pyplot state,
and the previous settings come back afterwards).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

# Okabe-Ito without black and yellow (yellow is unreadable on white when projected):
# blue, vermilion, bluish green, orange, reddish purple, sky blue, dark grey
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#555555"]
LINESTYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v"]
FAINT = "0.6"        # contour lines, raw curves behind their smoothed mean

RC = {
    "font.size": 12,
    "axes.titlesize": 14,
    "axes.labelsize": 13,
    "xtick.labelsize": 11.5,
    "ytick.labelsize": 11.5,
    "legend.fontsize": 11,
    "figure.titlesize": 14,
    "lines.linewidth": 1.8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.framealpha": 0.85,
    "savefig.dpi": 120,
    "svg.fonttype": "none",     # text stays text in SVG: smaller, searchable, selectable
    "pdf.fonttype": 42,         # TrueType in PDF, editable in Illustrator / Inkscape
    # labels, titles and legends carry user text (variant labels, swept values): drawn as plain
    # text, never parsed as TeX ("$\\undefinedmacro$ rate" would fail the whole figure)
    "text.parse_math": False,
}


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def series(i: int, n_points: int = 0) -> dict:
    """Colour, dash and marker of the ``i``-th series; markers every ~12th point so they mark the
    line without hiding it (``n_points``: the curve's length)."""
    return {"color": color(i), "linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)],
            "markevery": max(1, n_points // 12) if n_points else None, "markersize": 5}


@contextmanager
def styled() -> Iterator[None]:
    """Build figures inside this block to give them optlab's style."""
    import matplotlib
    from cycler import cycler

    rc = dict(RC, **{"axes.prop_cycle": cycler(color=PALETTE)})
    with matplotlib.rc_context(rc):
        yield
