"""Plots and tables of a run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png`` and ``results.md`` (through :class:`optlab.rundir.RunDir`), so a report can be
rebuilt later without training. A random or local search (its metrics have ``best_loss``) is
plotted against loss evaluations, its budget: every candidate's loss and the best so far. Plots use matplotlib's object API (no pyplot state), headless.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

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


def search_loss_figure(evals: np.ndarray, loss: np.ndarray, best: np.ndarray, title: str):
    """A random or local search: each candidate's loss (dots) and the best so far, vs loss evaluations."""
    fig, ax = _figure()
    ok, kept = np.isfinite(loss), np.isfinite(best)
    shown = np.clip(loss[ok], -DISPLAY_LIMIT, DISPLAY_LIMIT)
    ax.plot(evals[ok], shown, ".", color="tab:gray", alpha=0.35, ms=3, label="candidate")
    ax.step(evals[kept], best[kept], where="post", color="tab:blue", lw=1.8, label="best so far")
    values = np.r_[shown, best[kept]]
    if len(values) and values.min() > 0 and values.max() / values.min() > 50:
        ax.set_yscale("log")
    ax.set(xlabel="loss evaluations", ylabel="loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def accuracy_figure(metrics: dict[str, np.ndarray], title: str, val_label: str = SPLIT_LABELS["val"],
                    x: str = "step"):
    """Train and validation accuracy at each evaluation, against ``x`` (a metrics column)."""
    fig, ax = _figure()
    labels = {**SPLIT_LABELS, "val": val_label}
    for split, style in (("train", "--"), ("val", "-")):
        acc = metrics[f"{split}_acc"]
        ok = np.isfinite(acc)
        if ok.any():
            ax.plot(metrics[x][ok], 100 * acc[ok], style, marker="." if ok.sum() < 60 else None,
                    label=labels[split])
    ax.set(xlabel=x.replace("_evals", " evaluations"), ylabel="accuracy (%)", title=title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return fig


def val_label(summary: dict | None) -> str:
    """How the validation split is named: "validation (= test)" when the run evaluated on the test
    set (data.val_from: test), so such numbers are never mistaken for a held-out validation set."""
    return "validation (= test)" if summary and summary.get("val_source") == "test" else SPLIT_LABELS["val"]


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def accuracy_rows(summary: dict) -> list[list[str]]:
    """[split, final, peak, step of peak] per split, accuracies as percentages (conventions.md)."""
    rows = []
    labels = {**SPLIT_LABELS, "val": val_label(summary)}
    for split in ("train", "val", "test"):
        acc = summary.get("accuracy", {}).get(split, {})
        step = acc.get("peak_step")
        rows.append([labels[split], _pct(acc.get("final")), _pct(acc.get("peak")),
                     "—" if step is None else str(step)])
    return rows


def _num(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def _budget(summary: dict) -> str:
    """'1000, each over 49 000 examples' (strategies without a gradient: data used per evaluation)."""
    def thousands(k: int) -> str:
        return f"{k:,}".replace(",", " ")
    size = summary.get("examples_per_eval")
    return thousands(summary["loss_evals"]) + (f", each over {thousands(size)} examples" if size else "")


def facts(summary: dict) -> list[tuple[str, str]]:
    """The non-accuracy lines of a run's results: loss, steps or trials, budget, time."""
    strategy = summary.get("strategy", "gradient")
    if strategy in ("random", "local"):
        kept = "new bests" if strategy == "random" else "accepted (downhill)"
        out = [("status", summary.get("status", "?")),
               ("strategy", f"{strategy} search, {summary.get('steps', 0)} trials, "
                            f"{summary.get('accepted', 0)} {kept}"),
               ("best loss (the search's)", _num(summary.get("best_loss"))),
               ("final training loss", _num(summary.get("final_train_loss")))]
    else:
        out = [("status", summary.get("status", "?")),
               ("final mini-batch loss", _num(summary.get("final_loss"))),
               ("final training loss", _num(summary.get("final_train_loss"))),
               ("steps", f"{summary.get('steps', 0)} ({summary.get('epochs', 0):.3g} epochs)")]
        if summary.get("gradient") == "numerical":
            out.append(("gradient", f"numerical: 1 + 2 x {summary.get('n_params', 0)} loss evaluations per step"))
    if "loss_evals" in summary:
        out.append(("loss evaluations", _budget(summary)))
    out.append(("wall time", f"{summary.get('wall_time_s', 0):.2f} s"))
    if "diverged_at" in summary and strategy in ("random", "local"):
        knob = "search.scale" if strategy == "random" else "search.init_scale"
        out.append(("diverged", f"no candidate had a finite loss; try a smaller {knob}"))
    elif "diverged_at" in summary:
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
        summary = rd.read_json("summary.json") if (rd.path / "summary.json").exists() else None
        if "best_loss" in m:   # a random or local search
            rd.write_figure("loss.png", search_loss_figure(m["loss_evals"], m["loss"], m["best_loss"],
                                                           f"{name}: loss of each candidate"))
            rd.write_figure("accuracy.png", accuracy_figure(m, f"{name}: accuracy of the best", val_label(summary),
                                                            x="loss_evals"))
        else:
            rd.write_figure("loss.png", loss_figure(m["step"], m["loss"], f"{name}: training loss"))
            rd.write_figure("accuracy.png", accuracy_figure(m, f"{name}: accuracy", val_label(summary)))
        if summary is not None:
            rd.write_text("results.md", results_markdown(name, summary))
    except Exception:
        if not quiet:
            raise
