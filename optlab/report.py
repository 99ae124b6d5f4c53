"""Plots and tables of a run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png`` and ``results.md`` (through :class:`optlab.rundir.RunDir`), and the figures of
the diagnostics the run recorded (optlab.diagnostics_plots), so a report can be rebuilt later
without training. Plots use matplotlib's object API (no pyplot state), headless.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from optlab.diagnostics_plots import render_diagnostics, technique_facts
from optlab.rundir import RunDir, read_metrics

DISPLAY_LIMIT = 1e100  # larger losses are clipped in plots (the CSV keeps the true values)
SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


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


def _figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    return fig, fig.add_subplot()


def loss_figure(step: np.ndarray, loss: np.ndarray, title: str):
    """Raw mini-batch loss (faint) and its smoothed curve against the step."""
    fig, ax = _figure()
    ok = np.isfinite(loss)
    step, loss = step[ok], loss[ok]
    if len(loss) and np.abs(loss).max() > DISPLAY_LIMIT:  # a diverging run: matplotlib cannot tick 1e300
        loss = np.clip(loss, -DISPLAY_LIMIT, DISPLAY_LIMIT)
        title += f" (clipped at {DISPLAY_LIMIT:.0e})"
    ax.plot(step, loss, color="tab:blue", alpha=0.25, lw=0.8, label="mini-batch loss")
    window = max(11, (len(loss) // 100) | 1)  # about 1 % of the run, odd
    ax.plot(step, smooth(loss, window), color="tab:blue", lw=1.8, label=f"smoothed ({window} steps)")
    if len(loss) and loss.min() > 0 and loss.max() / loss.min() > 50:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def accuracy_figure(metrics: dict[str, np.ndarray], title: str):
    """Train and validation accuracy at each evaluation."""
    fig, ax = _figure()
    for split, style in (("train", "--"), ("val", "-")):
        acc = metrics[f"{split}_acc"]
        ok = np.isfinite(acc)
        if ok.any():
            ax.plot(metrics["step"][ok], 100 * acc[ok], style, marker="." if ok.sum() < 60 else None,
                    label=SPLIT_LABELS[split])
    ax.set(xlabel="step", ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def accuracy_rows(summary: dict) -> list[list[str]]:
    """[split, final, peak, step of peak] per split, accuracies as percentages (conventions.md)."""
    rows = []
    for split in ("train", "val", "test"):
        acc = summary.get("accuracy", {}).get(split, {})
        step = acc.get("peak_step")
        rows.append([SPLIT_LABELS[split], _pct(acc.get("final")), _pct(acc.get("peak")),
                     "—" if step is None else str(step)])
    return rows


def _num(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def facts(summary: dict) -> list[tuple[str, str]]:
    """The non-accuracy lines of a run's results: loss, steps, time."""
    out = [("status", summary.get("status", "?")),
           ("final mini-batch loss", _num(summary.get("final_loss"))),
           ("final training loss", _num(summary.get("final_train_loss"))),
           ("steps", f"{summary.get('steps', 0)} ({summary.get('epochs', 0):.3g} epochs)"),
           ("wall time", f"{summary.get('wall_time_s', 0):.2f} s")]
    out += technique_facts(summary)
    if "diverged_at" in summary:
        out.append(("diverged", explain_divergence(summary)))
    return out


def explain_divergence(summary: dict) -> str:
    """One line: where the run diverged, by which rule, and what to try instead."""
    d = summary["diverged_at"]
    loss = "NaN" if d.get("loss") is None else f"{d['loss']:.4g}"  # JSON stores NaN / inf as null
    if d.get("rule") == "factor":
        what = (f"the loss {loss} rose above {d['factor']:g} x the initial loss {d['initial_loss']:.4g} "
                "(train.divergence_factor)")
    else:
        what = f"the loss became {loss if d.get('loss') is not None else 'NaN or infinite'}"
    lr = f" (it was {d['lr']:g})" if d.get("lr") is not None else ""
    return f"at step {d['step']}: {what}; try a smaller optimizer.lr{lr}"


def results_markdown(name: str, summary: dict) -> str:
    lines = [f"# {name}", "", "| split | final accuracy | peak accuracy | step of peak |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in accuracy_rows(summary)]
    lines += ["", *(f"- {key}: {value}" for key, value in facts(summary)), ""]
    return "\n".join(lines)


def render_run(path: Path, quiet: bool = False) -> None:
    """(Re)write loss.png, accuracy.png and results.md from a run directory's files.

    ``quiet``: best effort (used after a failure): skip whatever cannot be rendered.
    """
    rd = RunDir(path)
    try:
        m = {k: np.asarray(v) for k, v in read_metrics(rd.path / "metrics.csv").items()}
        name = rd.path.name
        rd.write_figure("loss.png", loss_figure(m["step"], m["loss"], f"{name}: training loss"))
        rd.write_figure("accuracy.png", accuracy_figure(m, f"{name}: accuracy"))
        render_diagnostics(rd.path, m)
        if (rd.path / "summary.json").exists():
            rd.write_text("results.md", results_markdown(name, rd.read_json("summary.json")))
    except Exception:
        if not quiet:
            raise
