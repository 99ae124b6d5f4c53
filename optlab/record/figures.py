"""The figure library: matplotlib figures of curves and 2-D paths, drawn from arrays.

Each function returns a ``Figure`` (matplotlib's object API, no pyplot state, headless) for a
report module to write; none reads or writes files, so run, comparison and sweep reports share them.
They take the plot controls (``plots``: x-axis, y scale and limits, smoothing;
optlab.record.plot_options) and are drawn in optlab's style (optlab.record.style.styled).
"""

from __future__ import annotations

import numpy as np

from optlab.config.schema import PlotsConfig
from optlab.record.plot_options import finish_y, window
from optlab.record.style import FAINT, MARKERS, color

DISPLAY_LIMIT = 1e100  # larger losses are clipped in plots (the CSV keeps the true values)
SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


def import_plotting() -> None:
    """Import what the figures are drawn with (matplotlib's Figure and Agg: ~0.5-1 s). A
    comparison or sweep calls it while its workers train (optlab.studies.executor's ``prepare``), so its
    own plots do not wait for the import after the last trial."""
    from matplotlib.backends import backend_agg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def smooth(values: np.ndarray, window: int = 11) -> np.ndarray:
    """DLFS's ``smooth_curve``: a Kaiser window (beta 2) of ``window`` points, ends mirrored.

    Returns an array as long as ``values``; shorter inputs are returned unchanged.
    """
    x = np.asarray(values, dtype=float)
    if len(x) < window:
        return x.copy()
    padded = np.r_[x[window - 1:0:-1], x, x[-1:-window:-1]]
    w = np.kaiser(window, 2)
    y = np.convolve(w / w.sum(), padded, mode="valid")
    half = window // 2
    return y[half: len(y) - half]


def new_figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    return fig, fig.add_subplot()


def loss_figure(x: np.ndarray, loss: np.ndarray, title: str, opts: PlotsConfig, xlabel: str = "step",
                what: str = "mini-batch loss"):
    """Raw loss of each step (faint) and its smoothed curve (``plots.smooth``; 1: raw only);
    ``what`` names it: "mini-batch loss", or "full-batch loss" (optlab.record.kinds.batch_loss)."""
    fig, ax = new_figure()
    ok = np.isfinite(loss)
    x, loss = x[ok], loss[ok]
    if len(loss) and np.abs(loss).max() > DISPLAY_LIMIT:  # a diverging run: matplotlib cannot tick 1e300
        loss = np.clip(loss, -DISPLAY_LIMIT, DISPLAY_LIMIT)
        title += f" (clipped at {DISPLAY_LIMIT:.0e})"
    w = window(len(loss), opts)
    if w > 1:
        ax.plot(x, loss, color=color(0), alpha=0.25, lw=0.8, label=what)
        ax.plot(x, smooth(loss, w), color=color(0), label=f"smoothed ({w} points)")
    else:
        ax.plot(x, loss, color=color(0), lw=1.2, label=what)
    finish_y(ax, "loss", opts, loss)
    ax.set(xlabel=xlabel, ylabel="loss", title=title)
    ax.legend()
    return fig


def search_loss_figure(x: np.ndarray, loss: np.ndarray, best: np.ndarray, title: str, opts: PlotsConfig,
                       xlabel: str = "loss evaluations"):
    """A random or local search: each candidate's loss (dots) and the best so far."""
    fig, ax = new_figure()
    ok, kept = np.isfinite(loss), np.isfinite(best)
    shown = np.clip(loss[ok], -DISPLAY_LIMIT, DISPLAY_LIMIT)
    ax.plot(x[ok], shown, ".", color=FAINT, alpha=0.5, ms=3, label="candidate")
    ax.step(x[kept], best[kept], where="post", color=color(0), label="best so far")
    finish_y(ax, "loss", opts, np.r_[shown, best[kept]])
    ax.set(xlabel=xlabel, ylabel="loss", title=title)
    ax.legend()
    return fig


def accuracy_figure(metrics: dict[str, np.ndarray], x: np.ndarray, title: str, opts: PlotsConfig,
                    val_label: str = SPLIT_LABELS["val"], xlabel: str = "step"):
    """Train (dashed) and validation (solid) accuracy at each evaluation (``plots.splits``)."""
    fig, ax = new_figure()
    labels = {**SPLIT_LABELS, "val": val_label}
    for k, split in enumerate(opts.splits or ("train", "val")):
        acc = metrics[f"{split}_acc"]
        ok = np.isfinite(acc)
        if ok.any():
            ax.plot(x[ok], 100 * acc[ok], "--" if split == "train" else "-", color=color(1 if split == "train" else 0),
                    marker=MARKERS[k] if ok.sum() < 60 else None, ms=4, label=labels[split])
    finish_y(ax, "accuracy", opts)
    ax.set(xlabel=xlabel, ylabel="accuracy (%)", title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig


def contour_axes(ax, objective, window: tuple[float, float, float, float], n: int = 240) -> None:
    """Contour lines of a 2-D objective over ``window``, its minimum (if any) marked with a cross."""
    x0, x1, y0, y1 = window
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = objective.value(X, Y)
    if objective.log_levels:   # f spans decades: levels evenly spaced in log f (floored above 0)
        levels = np.geomspace(max(Z.min(), 1e-3), Z.max(), 20)
    elif objective.minimum is not None:   # a bowl: levels ~ t^2 give evenly spaced rings
        levels = Z.min() + (Z.max() - Z.min()) * np.linspace(0, 1, 21)[1:] ** 2
    else:
        levels = np.linspace(Z.min(), Z.max(), 20)
    ax.contour(X, Y, Z, levels=levels, colors="0.6", linewidths=0.6)   # one grey: every level visible
    if objective.minimum is not None:
        ax.plot(*objective.minimum, "+", color="black", ms=12, mew=2)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")


def path_figure(objective, xs: np.ndarray, ys: np.ndarray, title: str):
    """One path on the contours of its objective: start marked, every step a dot."""
    from optlab.engine.surfaces import view_window

    fig, ax = new_figure()
    contour_axes(ax, objective, view_window(objective, xs, ys))
    ax.plot(xs, ys, "o-" if len(xs) <= 100 else "-", color=color(1), ms=3, lw=1.2)
    ax.plot(xs[:1], ys[:1], "s", color=color(1), ms=6, label="start")
    ax.set_title(title)
    ax.grid(False)
    ax.legend(loc="upper right")
    return fig


def surface_loss_figure(x: np.ndarray, f: np.ndarray, title: str, opts: PlotsConfig, xlabel: str = "step"):
    """f at each point of the path (deterministic: nothing to smooth)."""
    fig, ax = new_figure()
    ok = np.isfinite(f)
    x, f = x[ok], f[ok]
    if len(f) and np.abs(f).max() > DISPLAY_LIMIT:  # a diverging path: matplotlib cannot tick 1e300
        f = np.clip(f, -DISPLAY_LIMIT, DISPLAY_LIMIT)
        title += f" (clipped at {DISPLAY_LIMIT:.0e})"
    ax.plot(x, f, ".-", color=color(0))
    finish_y(ax, "loss", opts, f)
    ax.set(xlabel=xlabel, ylabel="f(x, y)", title=title)
    return fig
