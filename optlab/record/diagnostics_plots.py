"""Figures and summary lines of the training techniques and diagnostics, drawn from a run
directory's files only (like optlab.record.run_report, which calls :func:`render_diagnostics`).

Each figure goes to a FigureSet (optlab.record.figure_set): a file in ``plots.format`` and the run's
report.html.

- ``lr.png``: the learning rate of every step, when it changes (a schedule, warmup, plateau);
- ``update_ratios.png``: each weight matrix's update/weight ratio against the step, log scale,
  with CS231n's 1e-3 marked (from diagnostics.csv);
- ``activations.png``: a histogram per hidden layer (columns) and recorded step (rows), as in
  DLFS's weight-initialisation figures (from activations.json);
- ``sharpness.png``: lambda_max against the stability threshold (from sharpness.csv, drawn by
  optlab.record.landscape_report);
- :func:`technique_facts`: the results lines for early stopping, the initial-loss check,
  clipping and plateau reductions (from summary.json).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from optlab.record.rundir import RunDir, read_metrics
from optlab.record.style import LINESTYLES, MARKERS, color

HEALTHY_RATIO = 1e-3   # CS231n: updates about 1e-3 of the weights
MAX_HISTOGRAM_ROWS = 6


def lr_figure(x: np.ndarray, lr: np.ndarray, title: str, step: np.ndarray | None = None, xlabel: str = "step"):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 3.4), layout="constrained")
    ax = fig.add_subplot()
    ok = np.isfinite(lr) & ((x if step is None else step) > 0)   # step 0 takes no step
    ax.plot(x[ok], lr[ok], color=color(4))
    if ok.any() and lr[ok].min() > 0 and lr[ok].max() / lr[ok].min() > 20:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel="learning rate", title=title)
    return fig


def update_ratio_figure(table: dict[str, list[float]], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    ax = fig.add_subplot()
    step = np.asarray(table["step"])
    for name, values in table.items():
        v = np.asarray(values)
        ok = np.isfinite(v) & (v > 0)
        if name != "step" and ok.any():
            k = len(ax.lines)
            ax.plot(step[ok], v[ok], color=color(k), ls=LINESTYLES[k % len(LINESTYLES)],
                    marker=MARKERS[k % len(MARKERS)] if ok.sum() < 60 else None, ms=4, label=name.removesuffix(".W"))
    ax.axhline(HEALTHY_RATIO, color="0.4", ls="--", lw=1, label="1e-3 (CS231n)")
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="||update|| / ||W||", title=title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", ncol=2)
    return fig


def activations_figure(records: list[dict], title: str):
    """Rows: recorded steps (at most MAX_HISTOGRAM_ROWS, evenly picked); columns: hidden layers."""
    from matplotlib.figure import Figure

    if len(records) > MAX_HISTOGRAM_ROWS:
        pick = np.linspace(0, len(records) - 1, MAX_HISTOGRAM_ROWS).round().astype(int)
        records = [records[i] for i in pick]
    layers = list(records[0]["layers"])
    width, height = max(2.2 * len(layers) + 0.8, 5.5), 1.9 * len(records) + 0.9   # >= 5.5 in: room for the title
    # a fixed layout, in inches: constrained layout would double the time of a many-panel figure
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, bottom=0.35 / height, top=1 - 0.75 / height,
                        wspace=0.12, hspace=0.55)
    axes = fig.subplots(len(records), len(layers), squeeze=False, sharey="row")
    for r, record in enumerate(records):
        for c, name in enumerate(layers):
            h, ax = record["layers"][name], axes[r][c]
            ax.stairs(h["counts"], h["edges"], fill=True, color=color(0), alpha=0.8)
            label = f"{name}: " if r == 0 else ""
            label += f"std {h['std']:.2g}"
            if h["kind"] == "ReLU":   # the zeros are counted apart: they would dwarf the rest
                label += f", zeros {100 * h['zero_fraction']:.0f} %"
            ax.set_title(label, fontsize="small")
            ax.tick_params(labelsize="x-small")
            if c == 0:
                ax.set_ylabel(f"step {record['step']}", fontsize="small")
    fig.suptitle(title, fontsize="medium")
    return fig


def render_diagnostics(path: Path, metrics: dict[str, np.ndarray], figures, x: np.ndarray | None = None,
                       xlabel: str = "step") -> None:
    """Add whichever of lr, update_ratios, activations the run has data for to ``figures``
    (optlab.record.figure_set.FigureSet); ``x``: the x of each metrics row (plots.x)."""
    rd = RunDir(path)
    name = rd.path.name
    lr = metrics.get("lr")
    if lr is not None:
        ok = np.isfinite(lr)
        if ok.any() and np.ptp(lr[ok]) > 0:
            figures.add("lr", lr_figure(metrics["step"] if x is None else x, lr, f"{name}: learning rate",
                                        metrics["step"], xlabel), "the learning rate of every step")
    if (rd.path / "diagnostics.csv").is_file():
        table = read_metrics(rd.path / "diagnostics.csv")
        if table["step"]:
            figures.add("update_ratios", update_ratio_figure(table, f"{name}: update / weight ratio"),
                        "each weight matrix's update / weight ratio (CS231n: about 1e-3 is healthy)")
    if (rd.path / "activations.json").is_file():
        records = rd.read_json("activations.json")["records"]
        if records:
            figures.add("activations", activations_figure(records, f"{name}: hidden activations"),
                        "histograms of each hidden layer's activations")
    if (rd.path / "sharpness.csv").is_file():   # diagnostics.sharpness_every (optlab.record.landscape_report)
        from optlab.record.landscape_report import read_sharpness, sharpness_figure

        table = read_sharpness(rd.path / "sharpness.csv")
        if len(table["step"]):
            figures.add("sharpness", sharpness_figure(table, f"{name}: sharpness"),
                        "the sharpness (largest Hessian eigenvalue) against the learning rate's stability threshold")


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def technique_facts(summary: dict) -> list[tuple[str, str]]:
    """Results lines for the techniques a run used, from its summary.json."""
    out = []
    early = summary.get("early_stopping")
    if early is not None:
        metric, best = early["metric"], early.get("best_value")
        shown = _pct(best) if metric == "val_acc" else ("—" if best is None else f"{best:.4g}")
        where = (f"stopped at step {early['stopped_at']} after {early['patience']} evaluations without a new best"
                 if early.get("stopped_at") is not None else "ran to the end")
        out.append(("early stopping", f"{where}; weights restored from step {early.get('best_step')} "
                                      f"({metric} {shown}); the test accuracy is theirs"))
    check = summary.get("initial_loss_check")
    if check is not None:
        line = f"{check['observed']:.4g} (at chance: {check['formula']} = {check['expected']:.4g})"
        out.append(("initial loss", line + (f" — WARNING: {check['warning']}" if check.get("warning") else "")))
    if "clipped_steps" in summary:
        out.append(("gradient clipping", f"{summary['clipped_steps']} of {summary.get('steps', 0)} steps clipped"))
    if summary.get("lr_reductions"):
        steps = summary["lr_reductions"]
        out.append(("plateau schedule", f"rate reduced {len(steps)} times, at steps {', '.join(map(str, steps))}"))
    return out
