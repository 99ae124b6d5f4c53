"""The report of one run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png`` and ``results.md`` (through :class:`optlab.record.rundir.RunDir`), and the figures of
the diagnostics the run recorded (optlab.record.diagnostics_plots), so a report can be rebuilt later
without training. A random or local search (its metrics have ``best_loss``) is plotted against
loss evaluations, its budget: every candidate's loss and the best so far. A surface run
(optlab.engine.surfaces) gets ``loss.png`` (f along the path) and ``path.png`` (the path on the
function's contours) instead. The tables here are also what the terminal prints.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from optlab.record.diagnostics_plots import render_diagnostics, technique_facts
from optlab.record.figures import (
    SPLIT_LABELS,
    accuracy_figure,
    loss_figure,
    path_figure,
    search_loss_figure,
    surface_loss_figure,
)
from optlab.record.rundir import RunDir, read_metrics


def val_label(summary: dict | None) -> str:
    """How the validation split is named: "validation (= test)" when the run evaluated on the test
    set (data.val_from: test), so such numbers are never mistaken for a held-out validation set."""
    return "validation (= test)" if summary and summary.get("val_source") == "test" else SPLIT_LABELS["val"]


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def accuracy_rows(summary: dict) -> list[list[str]]:
    """[split, final, peak, step of peak] per split, accuracies as percentages (docs/conventions.md)."""
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

    from optlab.engine.surfaces import OBJECTIVES

    config = yaml.safe_load((Path(path) / "config.yaml").read_text(encoding="utf-8"))
    return OBJECTIVES[config["model"]["function"]]
