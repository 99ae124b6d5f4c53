"""The report of one run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png``, ``results.md`` and ``report.html`` (optlab.record.html_report) (through :class:`optlab.record.rundir.RunDir`), and the figures of
the diagnostics the run recorded (optlab.record.diagnostics_plots), so a report can be rebuilt later
without training. A random or local search (its metrics have ``best_loss``) is plotted against
loss evaluations, its budget: every candidate's loss and the best so far. A surface run
(optlab.engine.surfaces) gets ``loss.png`` (f along the path) and ``path.png`` (the path on the
function's contours) instead. The tables here are also what the terminal prints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from optlab.record.chart_data import run_charts
from optlab.record.diagnostics_plots import render_diagnostics, technique_facts
from optlab.record.figure_set import FigureSet
from optlab.record.figures import (
    SPLIT_LABELS,
    accuracy_figure,
    loss_figure,
    path_figure,
    search_loss_figure,
    surface_loss_figure,
)
from optlab.record.html_report import run_page
from optlab.record.hessian_report import draw_hessian
from optlab.record.landscape_report import draw_landscape
from optlab.record.plot_options import examples_per_step, plot_options, x_values
from optlab.record.rundir import RunDir, read_metrics
from optlab.record.status import run_status
from optlab.record.style import styled


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


def live_summary(path: Path) -> dict:
    """The run's summary as it stands now: summary.json (written at the end, or by the segment
    before a resume) with the status meta.json gives, live-checked as ``--resume`` does
    (optlab.record.status.run_status: ``running``, or ``died`` when its process is gone); for a run
    that has not ended, its steps, epochs and last loss so far from metrics.csv."""
    path = Path(path)
    summary = RunDir(path).read_json("summary.json") if (path / "summary.json").is_file() else {}
    summary = dict(summary) if isinstance(summary, dict) else {}
    if (path / "meta.json").is_file():
        summary["status"] = run_status(path)
    if summary.get("status") in ("running", "died", "interrupted", "unknown") or "steps" not in summary:
        try:
            m = read_metrics(path / "metrics.csv")
        except (OSError, ValueError):
            m = {}
        rows = [i for i, s in enumerate(m.get("step", [])) if not math.isnan(s)]
        if rows:
            last = rows[-1]
            summary["steps"] = int(m["step"][last])
            if not math.isnan(m.get("epoch", [math.nan] * (last + 1))[last]):
                summary["epochs"] = float(m["epoch"][last])
            losses = [v for v in m.get("loss", []) if not math.isnan(v)]
            if losses:
                summary["final_loss"] = losses[-1]
    summary.setdefault("status", "?")
    return summary


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


def render_run(path: Path, quiet: bool = False, overrides: Iterable[str] = (), files: bool = True) -> None:
    """(Re)write the figures, results.md and report.html of a run directory from its files.

    ``quiet``: best effort (used after a failure): skip whatever cannot be rendered. ``overrides``:
    ``plots.*`` settings for this rendering (optlab.record.plot_options). ``files=False``: only
    report.html (the figure files and results.md are left as they are). A comparison or sweep
    calls this for each trial, so every trial has its own page.
    """
    rd = RunDir(path)
    try:
        opts = plot_options(rd.path, overrides)
        figures = FigureSet(rd, opts, files=files)
        try:
            with styled():
                summary, charts, scrub = _draw(rd, opts, figures)
        except Exception:   # e.g. a run that failed before its first row: the page still says so
            if not quiet:
                raise
            summary = rd.read_json("summary.json") if (rd.path / "summary.json").exists() else None
            charts, scrub = [], None
        if summary is not None and files:
            rd.write_text("results.md", results_markdown(rd.path.name, summary))
        accuracy = accuracy_rows(summary) if summary and "accuracy" in summary else None
        rd.write_text("report.html", run_page(rd.path, run_status(rd.path), summary, accuracy,
                                              facts(summary) if summary else [], figures.items, charts,
                                              explorer=_explorer(rd.path), scrub=scrub))
    except Exception:
        if not quiet:
            raise


def _draw(rd: RunDir, opts, figures: FigureSet) -> tuple[dict | None, list[dict], dict | None]:
    """Draw the run's figures into ``figures``; returns its summary (None while it has none), the
    data of the page's interactive curves and of its time slider (optlab.record.scrubber)."""
    m = {k: np.asarray(v) for k, v in read_metrics(rd.path / "metrics.csv").items()}
    name = rd.path.name
    summary = rd.read_json("summary.json") if (rd.path / "summary.json").exists() else None
    config = _config(rd.path)
    if "best_loss" in m:   # a random or local search
        x, xlabel = x_values(m, opts, "loss_evals", examples_per_step(config, summary))
        figures.add("loss", search_loss_figure(x, m["loss"], m["best_loss"], f"{name}: loss of each candidate",
                                               opts, xlabel), "each candidate's loss and the best so far")
        figures.add("accuracy", accuracy_figure(m, x, f"{name}: accuracy of the best", opts, val_label(summary),
                                                xlabel), "accuracy of the best weights so far")
    elif "x" in m:   # a surface run: its path
        objective = run_objective(rd.path)
        x, xlabel = x_values(m, opts, "step")
        figures.add("loss", surface_loss_figure(x, m["loss"], f"{name}: f along the path", opts, xlabel),
                    "f(x, y) at each point of the path")
        figures.add("path", path_figure(objective, m["x"], m["y"], f"{name}: f = {objective.formula}"),
                    "the path on the contours of f (start: square; minimum: cross)")
        draw_hessian(rd.path, figures)   # hessian/: what `optlab hessian` saved, if anything
    else:
        x, xlabel = x_values(m, opts, "step", examples_per_step(config, summary))
        figures.add("loss", loss_figure(x, m["loss"], f"{name}: training loss", opts, xlabel),
                    "mini-batch loss, raw and smoothed")
        figures.add("accuracy", accuracy_figure(m, x, f"{name}: accuracy", opts, val_label(summary), xlabel),
                    "accuracy at each evaluation")
        render_diagnostics(rd.path, m, figures, x, xlabel)
        draw_landscape(rd.path, figures)   # landscape/: what `optlab landscape` saved, if anything
        draw_hessian(rd.path, figures)
        from optlab.record.scrubber import scrub_data

        return summary, run_charts(m, x, xlabel, opts, val_label(summary)), scrub_data(rd.path, m, x, xlabel)
    return summary, [], None


def _explorer(path: Path) -> dict | None:
    """The surface explorer at a surface run's settings (optlab.record.explorer); None for other runs."""
    from optlab.record.explorer import configs_explorer

    try:
        config = _config(path)
    except (OSError, ValueError):
        return None
    name = (config.get("optimizer") or {}).get("name")
    return configs_explorer([f"{name} (this run)"], [config])


def _config(path: Path) -> dict:
    import yaml

    config = Path(path) / "config.yaml"
    return (yaml.safe_load(config.read_text(encoding="utf-8")) or {}) if config.is_file() else {}


def run_objective(path: Path):
    """The 2-D objective a surface run descended, read from its config.yaml."""
    import yaml

    from optlab.engine.surfaces import OBJECTIVES

    config = yaml.safe_load((Path(path) / "config.yaml").read_text(encoding="utf-8"))
    return OBJECTIVES[config["model"]["function"]]
