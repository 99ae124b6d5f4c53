"""The record side of each kind of run (optlab.config.kinds): its figures, the lines of its
results, and how a comparison draws it. One entry per kind in :data:`RECORDS`; the reports read the
kind a run wrote (``"kind"`` in summary.json and meta.json) and never guess it from the columns.

- ``gradient``: the training loss (smoothed; "mini-batch" or "full-batch", as it ran), accuracy,
  the diagnostics, landscape and Hessian figures it has;
- ``search``: each candidate's loss and the best so far, against loss evaluations (its budget);
- ``surface``: f along the path and the path on the function's contours.

:func:`kind_in` reads the kind of a run directory (optlab.config.kinds.recorded_kind: derived
from config.yaml for directories written before runs recorded it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from optlab.config.kinds import GRADIENT, KINDS, SEARCH, SURFACE, RunKind, recorded_kind
from optlab.record.chart_data import run_charts
from optlab.record.diagnostics_plots import render_diagnostics
from optlab.record.figures import (
    SPLIT_LABELS,
    accuracy_figure,
    loss_figure,
    path_figure,
    search_loss_figure,
    surface_loss_figure,
)
from optlab.record.hessian_report import draw_hessian
from optlab.record.landscape_report import draw_landscape
from optlab.record.plot_options import examples_per_step, x_values
from optlab.record.rundir import RunDir
from optlab.record.words import count, plain

Facts = list[tuple[str, str]]


@dataclass(frozen=True)
class RunRecord:
    kind: RunKind
    # draw(path, metrics, summary or None, config mapping, plots options, FigureSet) adds the run's
    # figures; returns the page's interactive curves and time-slider data (optlab.record.scrubber)
    draw: Callable[..., tuple[list[dict], dict | None]]
    facts: Callable[[dict], Facts]        # its results lines after the status
    diverged: Callable[[dict], str]       # why it diverged, and what to try
    curve: str                            # the metrics column of its loss curve in a comparison
    smoothed: bool                        # that curve is a noisy batch loss (drawn smoothed; none at step 0)
    budget_axis: bool                     # compared on examples forwarded (its budget), not on steps


def kind_in(path: Path) -> RunKind:
    """:func:`recorded_kind` of the run directory ``path``, reading only the files it needs."""
    rd = RunDir(Path(path))

    def read(name: str) -> dict | None:
        value = rd.read_json(name) if (rd.path / name).is_file() else None
        return value if isinstance(value, dict) else None

    summary, meta = read("summary.json"), read("meta.json")
    written = any(isinstance((record or {}).get("kind"), str) and record["kind"] in KINDS for record in (summary, meta))
    return recorded_kind(summary, meta, None if written else rd.read_config())


def val_label(summary: dict | None) -> str:
    """How the validation split is named: "validation (= test)" when the run evaluated on the test
    set (data.val_from: test), so such numbers are never mistaken for a held-out validation set."""
    return "validation (= test)" if summary and summary.get("val_source") == "test" else SPLIT_LABELS["val"]


def run_objective(config: dict):
    """The 2-D objective a surface run descended, from its config (config.yaml as a mapping)."""
    from optlab.engine.surfaces import OBJECTIVES

    return OBJECTIVES[config["model"]["function"]]


def record_of(kind: RunKind | str) -> RunRecord:
    return RECORDS[str(kind)]


def summary_record(summary: dict) -> RunRecord:
    """The record entry of the kind ``summary`` names (the readers of a run directory fill it in
    through :func:`kind_in`; a summary without one is read as the defaults' kind, gradient)."""
    return record_of(recorded_kind(summary, None, None))


def _num(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.4g}"


def batch_loss(steps, epochs) -> str:
    """What a gradient run's per-step loss was taken over, from its step and epoch counts (the
    summary's, or the last metrics row's): "full-batch loss" when every step took the whole
    training set (train.batch_size >= its size, as L-BFGS needs), one step per epoch; else
    "mini-batch loss"."""
    full = steps is not None and epochs is not None and steps > 0 and float(steps) == float(epochs)
    return "full-batch loss" if full else "mini-batch loss"


def metrics_batch_loss(m: dict) -> str:
    """:func:`batch_loss` of a gradient run's metrics (its last row)."""
    step, epoch = m.get("step"), m.get("epoch")
    if step is None or epoch is None or not len(step):
        return "mini-batch loss"
    return batch_loss(step[-1], epoch[-1])


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


# -- gradient ------------------------------------------------------------------------------------
def _gradient_facts(summary: dict) -> Facts:
    out = [(f"final {batch_loss(summary.get('steps'), summary.get('epochs'))}", _num(summary.get("final_loss"))),
           ("final training loss", _num(summary.get("final_train_loss"))),
           ("steps", f"{summary.get('steps', 0)} ({plain(summary.get('epochs', 0))} epochs)")]
    if summary.get("gradient") == "numerical":
        out.append(("gradient", f"numerical: 1 + 2 x {summary.get('n_params', 0)} loss evaluations per step"))
    return out


def _draw_gradient(path, m, summary, config, opts, figures):
    from optlab.record.scrubber import scrub_data

    name, what = path.name, metrics_batch_loss(m)
    x, xlabel = x_values(m, opts, "step", examples_per_step(config, summary))
    figures.add("loss", loss_figure(x, m["loss"], f"{name}: training loss", opts, xlabel, what),
                f"{what}, raw and smoothed")
    figures.add("accuracy", accuracy_figure(m, x, f"{name}: accuracy", opts, val_label(summary), xlabel),
                "accuracy at each evaluation")
    render_diagnostics(path, m, figures, x, xlabel)
    draw_landscape(path, figures)   # landscape/: what `optlab landscape` saved, if anything
    draw_hessian(path, figures)     # hessian/: what `optlab hessian` saved, if anything
    return run_charts(m, x, xlabel, opts, val_label(summary), what), scrub_data(path, m, x, xlabel)


# -- search --------------------------------------------------------------------------------------
def _search_facts(summary: dict) -> Facts:
    strategy = summary.get("strategy", "random")
    kept = "new bests" if strategy == "random" else "accepted (downhill)"
    return [("strategy", f"{strategy} search, {count(summary.get('steps', 0), 'trial')}, "
                         f"{summary.get('accepted', 0)} {kept}"),
            ("best loss (the search's)", _num(summary.get("best_loss"))),
            ("final training loss", _num(summary.get("final_train_loss")))]


def _search_diverged(summary: dict) -> str:
    knob = "search.scale" if summary.get("strategy", "random") == "random" else "search.init_scale"
    return f"no candidate had a finite loss; try a smaller {knob}"


def _draw_search(path, m, summary, config, opts, figures):
    name = path.name
    x, xlabel = x_values(m, opts, "loss_evals", examples_per_step(config, summary))
    figures.add("loss", search_loss_figure(x, m["loss"], m["best_loss"], f"{name}: loss of each candidate",
                                           opts, xlabel), "each candidate's loss and the best so far")
    figures.add("accuracy", accuracy_figure(m, x, f"{name}: accuracy of the best", opts, val_label(summary),
                                            xlabel), "accuracy of the best weights so far")
    return [], None


# -- surface -------------------------------------------------------------------------------------
def _surface_facts(summary: dict) -> Facts:
    start = summary.get("start") or [math.nan, math.nan]
    end = summary.get("end") or [math.nan, math.nan]
    return [("objective", str(summary.get("objective", "?"))),
            ("start", f"({_num(start[0])}, {_num(start[1])})"),
            ("end", f"({_num(end[0])}, {_num(end[1])})"),
            ("final f(x, y)", _num(summary.get("final_loss"))),
            ("distance to the minimum", _num(summary.get("distance_to_minimum"))),
            ("steps", str(summary.get("steps", 0)))]


def _draw_surface(path, m, summary, config, opts, figures):
    name, objective = path.name, run_objective(config)
    x, xlabel = x_values(m, opts, "step")
    figures.add("loss", surface_loss_figure(x, m["loss"], f"{name}: f along the path", opts, xlabel),
                "f(x, y) at each point of the path")
    figures.add("path", path_figure(objective, m["x"], m["y"], f"{name}: f = {objective.formula}"),
                "the path on the contours of f (start: square; minimum: cross)")
    draw_hessian(path, figures)   # hessian/: what `optlab hessian` saved, if anything
    return [], None


RECORDS: dict[str, RunRecord] = {
    GRADIENT.name: RunRecord(GRADIENT, _draw_gradient, _gradient_facts, explain_divergence,
                             curve="loss", smoothed=True, budget_axis=False),
    SEARCH.name: RunRecord(SEARCH, _draw_search, _search_facts, _search_diverged,
                           curve="best_loss", smoothed=False, budget_axis=True),
    SURFACE.name: RunRecord(SURFACE, _draw_surface, _surface_facts, explain_divergence,
                            curve="loss", smoothed=False, budget_axis=False),
}
