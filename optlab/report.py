"""Plots and tables of a run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png`` and ``results.md`` (through :class:`optlab.rundir.RunDir`), and the figures of
the diagnostics the run recorded (optlab.diagnostics_plots), so a report can be rebuilt later
without training. A random or local search (its metrics have ``best_loss``) is plotted against
loss evaluations, its budget: every candidate's loss and the best so far. A surface run
(optlab.objectives) gets ``loss.png`` (f along the path) and ``path.png`` (the path on the
function's contours) instead. Plots use matplotlib's object API (no pyplot state), headless.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from optlab.diagnostics_plots import render_diagnostics, technique_facts
from optlab.rundir import RunDir, read_metrics

DISPLAY_LIMIT = 1e100  # larger losses are clipped in plots (the CSV keeps the true values)
SPLIT_LABELS = {"train": "train", "val": "validation", "test": "test"}


def import_plotting() -> None:
    """Import what the figures are drawn with (matplotlib's Figure and Agg: ~0.5-1 s). A
    comparison or sweep calls it while its workers train (optlab.parallel's ``prepare``), so its
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
        ax.plot(*objective.minimum, "+", color="black", ms=10, mew=1.5)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x", ylabel="y")


def path_figure(objective, xs: np.ndarray, ys: np.ndarray, title: str):
    """One path on the contours of its objective: start marked, every step a dot."""
    from optlab.objectives import view_window

    fig, ax = _figure()
    contour_axes(ax, objective, view_window(objective, xs, ys))
    ax.plot(xs, ys, "o-" if len(xs) <= 100 else "-", color="tab:red", ms=3, lw=1.2)
    ax.plot(xs[:1], ys[:1], "s", color="tab:red", ms=6, label="start")
    ax.set_title(title)
    ax.legend(loc="upper right")
    return fig


def surface_loss_figure(step: np.ndarray, f: np.ndarray, title: str):
    """f at each point of the path (deterministic: nothing to smooth)."""
    fig, ax = _figure()
    ok = np.isfinite(f)
    ax.plot(step[ok], f[ok], ".-", color="tab:blue")
    if ok.any() and f[ok].min() > 0 and f[ok].max() / f[ok].min() > 50:
        ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="f(x, y)", title=title)
    ax.grid(alpha=0.3)
    return fig


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
    if "objective" in summary:   # a surface run: a path, not a data fit
        end = summary.get("end") or [math.nan, math.nan]
        out = [("status", summary.get("status", "?")),
               ("objective", summary["objective"]),
               ("start", f"({_num(summary['start'][0])}, {_num(summary['start'][1])})"),
               ("end", f"({_num(end[0])}, {_num(end[1])})"),
               ("final f(x, y)", _num(summary.get("final_loss"))),
               ("distance to the minimum", _num(summary.get("distance_to_minimum"))),
               ("steps", str(summary.get("steps", 0)))]
    elif strategy in ("random", "local"):
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
    out += technique_facts(summary)
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
    lines = [f"# {name}", ""]
    if "accuracy" in summary:
        lines += ["| split | final accuracy | peak accuracy | step of peak |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in accuracy_rows(summary)]
        lines += [""]
    lines += [*(f"- {key}: {value}" for key, value in facts(summary)), ""]
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
        elif "x" in m:   # a surface run: its path
            objective = run_objective(rd.path)
            rd.write_figure("loss.png", surface_loss_figure(m["step"], m["loss"], f"{name}: f along the path"))
            rd.write_figure("path.png", path_figure(objective, m["x"], m["y"], f"{name}: f = {objective.formula}"))
        else:
            rd.write_figure("loss.png", loss_figure(m["step"], m["loss"], f"{name}: training loss"))
            rd.write_figure("accuracy.png", accuracy_figure(m, f"{name}: accuracy", val_label(summary)))
            render_diagnostics(rd.path, m)
        if summary is not None:
            rd.write_text("results.md", results_markdown(name, summary))
    except Exception:
        if not quiet:
            raise


def run_objective(path: Path):
    """The 2-D objective a surface run descended, read from its config.yaml."""
    import yaml

    from optlab.objectives import OBJECTIVES

    config = yaml.safe_load((Path(path) / "config.yaml").read_text(encoding="utf-8"))
    return OBJECTIVES[config["model"]["function"]]


class NotARunDirectory(ValueError):
    """Neither a run directory (metrics.csv) nor a comparison (compare.json)."""


def render_directory(path: Path) -> str:
    """Re-render a run directory, a comparison or a sweep (and each of its trials) from its files.

    Returns "run", "compare" or "sweep"; raises NotARunDirectory for anything else.
    """
    path = Path(path)
    if (path / "sweep.json").is_file():
        from optlab.sweep_report import render_sweep

        for trial in RunDir(path).read_json("sweep.json")["trials"]:
            if (path / trial["dir"] / "metrics.csv").is_file():
                render_run(path / trial["dir"])
        render_sweep(path)
        return "sweep"
    if (path / "compare.json").is_file():
        from optlab.compare_report import render_compare

        manifest = RunDir(path).read_json("compare.json")
        for entry in manifest["variants"]:
            for name in [t["dir"] for t in entry.get("tune_trials", [])] + entry["trials"]:
                if (path / name / "metrics.csv").is_file():
                    render_run(path / name)
        render_compare(path)
        return "compare"
    if (path / "metrics.csv").is_file():
        render_run(path)
        return "run"
    what = "no such directory" if not path.exists() else \
        "not a run directory (no metrics.csv), a comparison (no compare.json) nor a sweep (no sweep.json)"
    raise NotARunDirectory(f"{path}: {what}")
