"""One look for every figure optlab draws: sizes that survive a projector, a colour-blind-safe
palette, and a line style per series so that curves lying on top of each other stay visible.

- Colours: Okabe & Ito's palette ("Color Universal Design", 2002), eight hues told apart with
  every common colour-vision deficiency; black is kept for references (targets, minima).
- Line styles and markers cycle with a different period than the colours (4 and 5 against 7):
  Momentum and Nesterov, whose curves nearly coincide, differ in colour, dash and marker.
- Fonts: 13 pt labels, 14 pt titles at the figures' 7-inch width; 1.8 pt lines.
- Text: plain, never mathtext: a ``$`` in a label is a dollar sign; log axes' tick labels, which
  matplotlib writes as mathtext, are written as text (``10⁻³``, ``2×10⁻³``) by :func:`plain_ticks`.

:func:`styled` applies it while figures are built (``matplotlib.rc_context``: no pyplot state,
and the previous settings come back afterwards).
"""

from __future__ import annotations

import copy
import re
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
    # ...so the SVG names its fonts: matplotlib lays text out in DejaVu Sans (bundled); where a
    # browser lacks it, the next must be narrower (Arial, Helvetica), never wider (Verdana, which
    # matplotlib's default list offers next), or tick labels laid out for DejaVu run together
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica", "Liberation Sans"],
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


_SUPERSCRIPT = str.maketrans("0123456789-+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺")
_MATHTEXT_LABEL = re.compile(r"\$\\mathdefault\{(.*)\}\$")
_MATHTEXT_POWER = re.compile(r"\^\{([^}]*)\}")
_PLAIN_CLASSES: dict[type, type] = {}


def mathtext_as_text(label: str) -> str:
    """A tick label of matplotlib's log formatters (``$\\mathdefault{2\\times10^{-3}}$``) as the
    text it means (``2×10⁻³``); any other label as it is."""
    math = _MATHTEXT_LABEL.fullmatch(label)
    if math is None:
        return label
    body = math.group(1).replace("\\times", "×").replace("\\;", " ").replace("\\,", "")
    return _MATHTEXT_POWER.sub(lambda m: m.group(1).translate(_SUPERSCRIPT), body)


def plain_ticks(fig) -> None:
    """Make every log axis of ``fig`` label its ticks as text: with ``text.parse_math`` off (RC)
    matplotlib's log formatters would show their mathtext source."""
    from matplotlib.ticker import LogFormatterMathtext

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for get, set_ in ((axis.get_major_formatter, axis.set_major_formatter),
                              (axis.get_minor_formatter, axis.set_minor_formatter)):
                formatter = get()
                if isinstance(formatter, LogFormatterMathtext) and type(formatter) not in _PLAIN_CLASSES.values():
                    plain = copy.copy(formatter)
                    plain.__class__ = _plain_class(type(formatter))
                    set_(plain)


def _plain_class(cls: type) -> type:
    """``cls`` (a log formatter) with its labels passed through :func:`mathtext_as_text`."""
    if cls not in _PLAIN_CLASSES:
        def call(self, x, pos=None):
            return mathtext_as_text(cls.__call__(self, x, pos))
        _PLAIN_CLASSES[cls] = type(f"Plain{cls.__name__}", (cls,), {"__call__": call})
    return _PLAIN_CLASSES[cls]
