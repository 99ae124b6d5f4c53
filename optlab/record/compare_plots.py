"""The figures of a comparison: loss and accuracy curves over seeds, and paths on a surface.

Every figure is built from the trials' metrics (optlab.record.compare_report reads them from disk);
one colour, dash and marker per variant across all figures (optlab.record.style). Bands are ±1 sample std over seeds. Matplotlib's
object API only (docs/conventions.md, "Files": no pyplot state, headless).

When a comparison includes a random or local search (optlab.training.search; its metrics have
``best_loss``), the x-axis of every curve is loss evaluations, the budget all strategies share
(optlab.training.budget), and a search's loss curve is its best loss so far (not smoothed: it only falls);
otherwise the x-axis is the step.
"""

from __future__ import annotations

import math

import numpy as np

from optlab.config.schema import PlotsConfig
from optlab.record.figures import contour_axes, smooth
from optlab.record.plot_options import finish_y, window
from optlab.record.style import LINESTYLES, MARKERS, color, series


def _figure(rows: int = 1, cols: int = 1, size=(7.5, 4.5)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def _stack(curves: list[np.ndarray]) -> np.ndarray:
    """Curves of unequal length (a diverged seed stops early) as rows padded with NaN."""
    n = max(len(c) for c in curves)
    out = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample std (n - 1) over seeds at each point, from the seeds that have a value there
    (std 0 where only one has)."""
    stacked = _stack(curves)
    ok = np.isfinite(stacked)
    count = ok.sum(axis=0)
    filled = np.where(ok, stacked, 0.0)
    mean = np.divide(filled.sum(axis=0), count, out=np.full(stacked.shape[1], np.nan), where=count > 0)
    dev = np.where(ok, stacked - mean, 0.0)
    var = np.divide((dev * dev).sum(axis=0), count - 1, out=np.zeros(stacked.shape[1]), where=count > 1)
    return mean, np.sqrt(var)


def _finite_prefix(values: np.ndarray) -> np.ndarray:
    bad = np.flatnonzero(~np.isfinite(values))
    return values[: bad[0]] if len(bad) else values


def x_axis(trials: list[list]) -> str:
    """The metrics column to plot against: ``loss_evals`` when a search strategy is compared."""
    runs = [t.metrics for ts in trials for t in ts]
    if any("best_loss" in m for m in runs) and all("loss_evals" in m for m in runs):
        return "loss_evals"
    return "step"


def loss_figure(labels: list[str], trials: list[list], title: str, smoothed: bool = True,
                opts: PlotsConfig | None = None, x_of=None, xlabel: str | None = None):
    """Training loss per variant: smoothed mean over seeds ± std, raw mean faintly behind.

    ``smoothed=False`` (a surface: one deterministic path) draws f at each step as it is. A random
    or local search draws its best loss so far, against loss evaluations (:func:`x_axis`).
    ``x_of(trial)``: the x of each metrics row (plots.x), labelled ``xlabel``; each variant has its
    own colour, dash and marker (optlab.record.style.series).
    """
    opts = opts or PlotsConfig()
    fig, axes = _figure()
    ax = axes[0, 0]
    drawn = []
    x = x_axis(trials)
    x_of = x_of or (lambda t: t.metrics[x])
    for i, (label, ts) in enumerate(zip(labels, trials)):
        kept = [t for t in ts if len(t.metrics.get("step", [])) > 1]
        runs = [t.metrics for t in kept]
        if not runs:
            continue
        search = "best_loss" in runs[0]
        start = 0 if not smoothed or search else 1   # a data run's step 0 has no mini-batch loss
        raw = [_finite_prefix(m["best_loss" if search else "loss"][start:]) for m in runs]
        raw = [r for r in raw if len(r)]
        if not raw:
            continue
        steps = x_of(kept[0])[start: start + max(len(r) for r in raw)]
        if search:
            mean, std = band(raw)
        elif smoothed:
            w = window(max(len(r) for r in raw), opts)
            mean_raw, _ = band(raw)
            if w > 1:
                ax.plot(steps, mean_raw, color=color(i), alpha=0.2, lw=0.6)
                mean, std = band([smooth(r, w) for r in raw])
            else:
                mean, std = mean_raw, band(raw)[1]
        else:
            mean, std = band(raw)
        ax.plot(steps, mean, **series(i, len(mean)), label=label)
        if len(raw) > 1:
            ax.fill_between(steps, mean - std, mean + std, color=color(i), alpha=0.15, lw=0)
        drawn.append(mean)
    finish_y(ax, "loss", opts, np.concatenate(drawn) if drawn else [])
    ylabel = "f(x, y)" if not smoothed else "training loss (mini-batch)"
    if x == "loss_evals":
        ylabel = "loss (search: best so far; gradient: mini-batch, smoothed)"
    ax.set(xlabel=xlabel or ("loss evaluations" if x == "loss_evals" else "step"), ylabel=ylabel,
           title=f"{title}: {'f along the path' if not smoothed else 'training loss'}")
    if ax.lines:
        ax.legend()
    return fig


def accuracy_figure(labels: list[str], trials: list[list], title: str, target: float | None = None,
                    opts: PlotsConfig | None = None, x_of=None, xlabel: str | None = None):
    """Validation accuracy (%) at each evaluation per variant, mean over seeds ± std.

    ``plots.splits: [train, val]`` adds training accuracy (the train-test gap): then the dash tells
    the split (validation solid, training dotted) and colour and marker the variant.
    """
    opts = opts or PlotsConfig()
    splits = list(opts.splits or ["val"])
    fig, axes = _figure()
    ax = axes[0, 0]
    x = x_axis(trials)
    x_of = x_of or (lambda t: t.metrics[x])
    for i, (label, ts) in enumerate(zip(labels, trials)):
        for split in splits:
            curves, steps = [], None
            for t in ts:
                acc = t.metrics.get(f"{split}_acc")
                if acc is None:
                    continue
                ok = np.isfinite(acc)
                if ok.any():
                    curves.append(100 * acc[ok])
                    if steps is None or ok.sum() > len(steps):
                        steps = x_of(t)[ok]
            if not curves:
                continue
            mean, std = band(curves)
            style = series(i, len(mean))
            name = label
            if len(splits) > 1:
                style["linestyle"] = "-" if split == "val" else ":"
                name = f"{label} ({'validation' if split == 'val' else 'train'})"
            if len(mean) >= 60:
                style["marker"] = None
            ax.plot(steps[: len(mean)], mean, **style, label=name)
            if len(curves) > 1:
                ax.fill_between(steps[: len(mean)], mean - std, mean + std, color=color(i), alpha=0.15, lw=0)
    if not ax.lines:   # e.g. a single training example: nothing to validate on
        ax.text(0.5, 0.5, "no validation data", transform=ax.transAxes, ha="center", va="center", color="gray")
    elif target is not None:
        ax.axhline(100 * target, color="black", ls="--", lw=0.8, label=f"target {100 * target:.1f} %")
    finish_y(ax, "accuracy", opts)
    what = "validation accuracy" if splits == ["val"] else "accuracy"
    ax.set(xlabel=xlabel or ("loss evaluations" if x == "loss_evals" else "step"), ylabel=f"{what} (%)",
           title=f"{title}: {what}")
    if ax.lines:
        ax.legend()
    return fig


def trajectories_figure(labels: list[str], trials: list[list], title: str):
    """Each variant's path on the surface's contours (first seed: a surface path has no
    randomness), one panel per variant and a last panel with all of them."""
    from optlab.engine.surfaces import view_window
    from optlab.record.run_report import run_objective

    paths = [(i, label, ts[0]) for i, (label, ts) in enumerate(zip(labels, trials))
             if ts and ts[0].metrics.get("x") is not None]
    objective = run_objective(paths[0][2].path)
    xs = np.concatenate([t.metrics["x"] for _, _, t in paths])
    ys = np.concatenate([t.metrics["y"] for _, _, t in paths])
    window = view_window(objective, xs, ys)
    n = len(paths) + 1
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = _figure(rows, cols, size=(4.2 * cols, 3.4 * rows))
    flat = axes.ravel()
    for k, (i, label, t) in enumerate(paths):
        _path_panel(flat[k], objective, window, [(i, label, t)], label)
    _path_panel(flat[len(paths)], objective, window, paths, "all")
    for ax in flat[n:]:
        ax.set_axis_off()
    fig.suptitle(f"{title}: f = {objective.formula}")
    return fig


def _path_panel(ax, objective, window, paths, panel_title: str) -> None:
    contour_axes(ax, objective, window, n=160)
    for i, label, t in paths:
        x, y = t.metrics["x"], t.metrics["y"]
        ax.plot(x, y, color=color(i), ls=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)] if len(x) <= 100
                else None, ms=3, lw=1.4, label=label)
        ax.plot(x[:1], y[:1], "s", color="black", ms=4)
    ax.set_title(panel_title)
    ax.grid(False)
    if len(paths) > 1:
        ax.legend(fontsize="small")
