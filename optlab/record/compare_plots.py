"""The figures of a comparison: loss and accuracy curves over seeds, and paths on a surface.

Every figure is built from the trials' metrics (optlab.record.compare_report reads them from disk);
one colour, dash and marker per variant across all figures (optlab.record.style). Bands are ±1 sample std over seeds. Matplotlib's
object API only (docs/conventions.md, "Files": no pyplot state, headless).

When a comparison includes a random or local search (optlab.training.search; its metrics have
``best_loss``), the x-axis of every curve is examples forwarded (loss evaluations x their size, the
budget all strategies share: optlab.training.budget; log-scaled when the strategies' budgets differ
by decades), and a search's loss curve is its best loss so far (not smoothed: it only falls);
otherwise the x-axis is the step.

A diverging trial (a surface path flying off, a loss growing without bound) is drawn up to where
it leaves the view and marked there with an ``x``; its values never set the axes, so the others
stay readable and matplotlib never meets an overflowing tick.
"""

from __future__ import annotations

import math

import numpy as np

from optlab.config.schema import PlotsConfig
from optlab.record.compare_stats import band
from optlab.record.figures import contour_axes, smooth
from optlab.record.kinds import metrics_batch_loss, record_of, run_objective
from optlab.record.plot_options import finish_y, window
from optlab.record.style import LINESTYLES, MARKERS, color, series


def _figure(rows: int = 1, cols: int = 1, size=(7.5, 4.5)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    return fig, fig.subplots(rows, cols, squeeze=False)


def x_axis(trials: list[list]) -> str:
    """The metrics column to plot against: ``examples`` (forwarded) when a kind compared on its
    budget (a search: optlab.record.kinds) is among them (``loss_evals`` for runs that do not
    record their evaluations' size), else ``step``."""
    runs = [t.metrics for ts in trials for t in ts]
    if any(record_of(t.kind).budget_axis for ts in trials for t in ts):
        if all("examples" in m for m in runs):
            return "examples"
        if all("loss_evals" in m for m in runs):
            return "loss_evals"
    return "step"


X_LABELS = {"examples": "examples forwarded (loss evaluations × their size)", "loss_evals": "loss evaluations",
            "step": "step"}


def _x_scale(ax, x: str) -> None:
    """Log x when strategies' budgets differ by decades (whole-set searches vs mini-batch steps)."""
    if x == "examples" and ax.lines:
        ends = [float(np.nanmax(line.get_xdata())) for line in ax.lines if len(line.get_xdata())]
        starts = [float(np.nanmin(line.get_xdata())) for line in ax.lines if len(line.get_xdata())]
        if min(ends) > 0 and max(ends) / min(ends) > 20:
            ax.set_xscale("symlog", linthresh=max(1.0, min(e for e in starts + ends if e > 0)))


def has_validation(trials: list[list]) -> bool:
    """Whether any trial has a finite validation accuracy to plot."""
    return any(np.isfinite(t.metrics.get("val_acc", np.array([np.nan]))).any() for ts in trials for t in ts)


def _in_bounds(values: np.ndarray, cap: float) -> tuple[np.ndarray, bool]:
    """The prefix of a curve that is finite and within ``cap`` in size, and whether it was cut."""
    bad = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > cap))
    return (values[: bad[0]], True) if len(bad) else (values, False)


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
    firsts = [abs(float(v)) for ts in trials for t in ts for v in t.metrics.get("loss", [])[:2] if np.isfinite(v)]
    cap = 1e4 * (max(firsts, default=1.0) + 1.0)   # beyond this a curve is diverging: cut and marked
    for i, (label, ts) in enumerate(zip(labels, trials)):
        kept = [t for t in ts if len(t.metrics.get("step", [])) > 1]
        runs = [t.metrics for t in kept]
        if not runs:
            continue
        record = record_of(kept[0].kind)
        noisy = smoothed and record.smoothed          # a search's best so far only falls: drawn as it is
        start = 1 if noisy else 0                     # a data run's step 0 has no batch loss
        cuts = [_in_bounds(m[record.curve][start:], cap) for m in runs]
        raw = [r for r, _ in cuts if len(r)]
        if any(cut for _, cut in cuts) or any(t.status == "diverged" for t in ts):
            label = f"{label} (diverged)"
        if not raw:
            continue
        longest = kept[int(np.argmax([len(r) for r, _ in cuts]))]   # seeds may stop early (L-BFGS converged)
        steps = x_of(longest)[start: start + max(len(r) for r in raw)]
        if noisy:
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
        if label.endswith("(diverged)") and np.isfinite(mean).any():
            last = np.flatnonzero(np.isfinite(mean))[-1]
            ax.plot(steps[last], mean[last], "x", color=color(i), ms=9, mew=2)
        if len(raw) > 1:
            ax.fill_between(steps, mean - std, mean + std, color=color(i), alpha=0.15, lw=0)
        drawn.append(mean)
    finish_y(ax, "loss", opts, np.concatenate(drawn) if drawn else [])
    # what the gradient runs' losses were over: "mini-batch", "full-batch" or both
    batch = " or ".join(sorted({metrics_batch_loss(t.metrics).split()[0] for ts in trials for t in ts
                                if record_of(t.kind).smoothed})) or "mini-batch"
    ylabel = "f(x, y)" if not smoothed else f"training loss ({batch})"
    if x != "step":
        ylabel = f"loss: best so far (search),\n{batch}, smoothed (gradient)"   # two lines: one ran past the axes
    ax.set(xlabel=xlabel or X_LABELS[x], ylabel=ylabel,
           title=f"{title}: {'f along the path' if not smoothed else 'training loss'}")
    _x_scale(ax, x)
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
    ax.set(xlabel=xlabel or X_LABELS[x], ylabel=f"{what} (%)", title=f"{title}: {what}")
    _x_scale(ax, x)
    if ax.lines:
        ax.legend()
    return fig


def trajectories_figure(labels: list[str], trials: list[list], title: str):
    """Each variant's path on the surface's contours (first seed: a surface path has no
    randomness), one panel per variant and a last panel with all of them."""
    from optlab.engine.surfaces import view_window

    paths = [(i, label, ts[0]) for i, (label, ts) in enumerate(zip(labels, trials))
             if ts and ts[0].metrics.get("x") is not None]
    objective = run_objective(paths[0][2].config)
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
    """Contours, each path up to where it leaves the view (far outside it: marked ``x``, "diverged"),
    and a legend naming the markers: the start (square) and the minimum (+)."""
    from matplotlib.lines import Line2D

    contour_axes(ax, objective, window, n=160)
    x0, x1, y0, y1 = window
    far = 10 * max(x1 - x0, y1 - y0)                  # beyond this a point is off any sensible view
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    for i, label, t in paths:
        x, y = t.metrics["x"], t.metrics["y"]
        out = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)) | (np.abs(x - cx) > far) | (np.abs(y - cy) > far))
        diverged = len(out) > 0 or t.status == "diverged"
        if len(out):
            x, y = x[: out[0]], y[: out[0]]
        ax.plot(x, y, color=color(i), ls=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i % len(MARKERS)] if len(x) <= 100
                else None, ms=3, lw=1.4, label=f"{label} (diverged)" if diverged else label)
        if diverged and len(x):
            ax.plot(x[-1:], y[-1:], "x", color=color(i), ms=9, mew=2)
        ax.plot(x[:1], y[:1], "s", color="black", ms=4)
    ax.set(xlim=(x0, x1), ylim=(y0, y1))
    ax.set_title(panel_title)
    ax.grid(False)
    handles, _ = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], marker="s", color="black", ls="", ms=4, label="start"))
    if objective.minimum is not None:
        handles.append(Line2D([], [], marker="+", color="black", ls="", ms=10, mew=1.5, label="minimum"))
    ax.legend(handles=handles, fontsize="small")
