"""The leaderboard and figures of a sweep, rendered only from the files of its directory.

``render_sweep(path)`` reads ``sweep.json`` and every trial's run directory and writes, through
optlab.record.rundir:

- ``results.md`` / ``results.csv``: the leaderboard, every trial ranked by final validation
  accuracy, ties to the lower final validation loss (the selection rule of compare's learning-rate
  search, :func:`optlab.record.scores.tune_score`); trials that did not complete rank last. Columns: the
  swept values, final and peak validation accuracy (with the step of the peak), final training
  accuracy, final validation loss, status. The test set is left out on purpose: choosing by it
  would make its accuracy a tuned number (CS231n, "Hyperparameter optimization").
- ``scatter.png``: final validation accuracy against each swept parameter, a panel each, on a
  log axis where the range is logarithmic, coloured by the first choice parameter when there are
  several; trials that did not complete are crosses at the bottom, the best is a star.
- ``best.png``: the curves of the best 20 trials (DLFS ch. 6, "Best-1" ... "Best-20"): validation
  accuracy solid, training accuracy dashed, against the epoch, each titled with its values.

The same files give the same tables byte for byte: ``optlab report DIR`` rebuilds them.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from optlab.config.loading import value_text
from optlab.config.schema import PlotsConfig
from optlab.record import budget_report
from optlab.record.compare_stats import TrialData, load_trial
from optlab.record.plot_options import examples_per_step, x_values
from optlab.record.rundir import RunDir, format_value
from optlab.record.scores import tune_score
from optlab.record.status import study_status
from optlab.record.style import MARKERS, color
from optlab.record.words import count

BEST_CURVES = 20          # DLFS plots the best 20 trials


@dataclass
class Entry:
    """One trial on the leaderboard."""

    index: int
    name: str                       # tNNN
    values: dict[str, Any]
    trial: TrialData
    score: tuple

    def acc(self, split: str, key: str = "final") -> float | None:
        return ((self.trial.summary.get("accuracy") or {}).get(split) or {}).get(key)

    @property
    def val_loss(self) -> float | None:
        losses = [v for v in self.trial.metrics.get("val_loss", []) if math.isfinite(v)]
        return losses[-1] if losses else None


def leaderboard(path: Path) -> tuple[dict, list[Entry]]:
    """(manifest, trials best first); trials never started are left out."""
    path = Path(path)
    manifest = RunDir(path).read_json("sweep.json")
    manifest["status"] = study_status(manifest)   # "running" with its process gone: died
    keys = [p["key"] for p in manifest["params"]]   # a key a trial did not use (optimizer.momentum for adam): None
    entries = [Entry(t["index"], Path(t["dir"]).name, {k: t["values"].get(k) for k in keys}, load_trial(path / t["dir"]),
                     tune_score(path / t["dir"])) for t in manifest["trials"]
               if t.get("dir") and (path / t["dir"] / "config.yaml").exists()]
    entries.sort(key=lambda e: (e.score, -e.index), reverse=True)   # ties: the earlier trial first
    return manifest, entries


def show(value: Any) -> str:
    """A swept value in a table: floats to 3 significant digits, sections and lists as YAML; a
    key the trial did not use (an optimizer's setting another optimizer lacks): —."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return value_text(value) if isinstance(value, (dict, list)) else str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def table(manifest: dict, entries: list[Entry]) -> tuple[list[str], list[list[str]]]:
    keys = [p["key"] for p in manifest["params"]]
    headers = ["rank", "trial", *keys, "val acc", "peak val acc (step)", "train acc", "val loss", "status"]
    rows = []
    for rank, e in enumerate(entries, start=1):
        peak, step = e.acc("val", "peak"), e.acc("val", "peak_step")
        loss = e.val_loss
        rows.append([str(rank), e.name, *(show(e.values[k]) for k in keys), _pct(e.acc("val")),
                     f"{_pct(peak)} ({step})" if step is not None else _pct(peak), _pct(e.acc("train")),
                     "—" if loss is None else f"{loss:.4g}", status_text(e.trial)])
    return headers, rows


def status_text(trial: TrialData) -> str:
    """A trial's status for the leaderboard; a pruned one with the step it stopped at (and the step
    of the evaluation that condemned it, where the stop came later)."""
    if trial.status != "pruned":
        return trial.status
    stopped, verdict = trial.summary.get("steps"), trial.summary.get("pruned_at")
    if stopped is None:
        return "pruned"
    return f"pruned at step {stopped}" + (f" (verdict at {verdict})" if verdict not in (None, stopped) else "")


def search_method(manifest: dict) -> str:
    """How a sweep chose its trials, in words (results.md and report.html say the same)."""
    n = len(manifest["trials"])
    pruner = manifest.get("pruner", "none")
    pruning = "no pruning" if pruner == "none" else f"{pruner} pruner"
    return {"random": f"random search, {count(n, 'trial')}, values drawn with seed {manifest['seed']}",
            "grid": f"grid search, {count(n, 'combination')}",
            "optuna": f"Optuna {manifest.get('sampler')} sampler (seed {manifest['seed']}), {pruning}, {count(n, 'trial')}"
                      f"{', asked asynchronously' if manifest.get('asynchronous') else ''}; "
                      f"study in `{manifest.get('storage')}`"}[manifest["mode"]]


def results_markdown(path: Path, manifest: dict, entries: list[Entry]) -> str:
    headers, rows = table(manifest, entries)
    n = len(manifest["trials"])
    how = search_method(manifest)
    lines = [f"# {path.name}", "",
             f"{how}; config `{manifest['config']}`" + "".join(f" `{o}`" for o in manifest.get("fixed", [])) +
             f"; every trial trains with seed {manifest['training_seed']}.", "",
             "| parameter | searched |", "|---|---|",
             *(f"| `{p['key']}` | `{p['spec']}`{' (log scale)' if p['log'] else ''} |" for p in manifest["params"]),
             "", "Ranked by final validation accuracy (ties: lower final validation loss); the test set is not "
             "used in a search.", "",
             f"| {' | '.join(headers)} |", "|" + "---|" * len(headers), *(f"| {' | '.join(r)} |" for r in rows)]
    if manifest.get("status") != "completed":
        lines += ["", f"Status: {manifest.get('status')}; {len(entries)} of {count(n, 'trial')} started."]
    return "\n".join(lines) + "\n"


CSV_FIXED = ["rank", "trial", "dir", "status", "final_val_acc", "peak_val_acc", "peak_step", "final_train_acc",
             "final_val_loss", "final_train_loss"]


def results_csv(manifest: dict, entries: list[Entry]) -> str:
    """One row per trial, best first; numbers unformatted (accuracies as fractions), values as swept."""
    keys = [p["key"] for p in manifest["params"]]
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow([*CSV_FIXED[:4], *keys, *CSV_FIXED[4:]])
    for rank, e in enumerate(entries, start=1):
        out.writerow([format_value(x) for x in (
            rank, e.name, str(e.trial.path.relative_to(e.trial.path.parent.parent)), e.trial.status,
            *(e.values[k] if not isinstance(e.values[k], (dict, list)) else show(e.values[k]) for k in keys),
            e.acc("val"), e.acc("val", "peak"), e.acc("val", "peak_step"), e.acc("train"), e.val_loss,
            e.trial.summary.get("final_train_loss"))])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# figures
# ------------------------------------------------------------------------------------------------
def _categorical(key: str, entries: list[Entry]) -> bool:
    return not all(isinstance(e.values[key], (int, float)) and not isinstance(e.values[key], bool)
                   for e in entries if e.values[key] is not None)


def scatter_figure(manifest: dict, entries: list[Entry], title: str, opts: PlotsConfig | None = None):
    """A panel per swept parameter; with two or more parameters, the points are coloured by the
    first choice parameter (e.g. batch norm on / off against the weight scale, DLFS fig. 6-18)."""
    from matplotlib.figure import Figure

    from optlab.record.panel_grid import PanelGrid

    opts = opts or PlotsConfig()
    params = manifest["params"]
    fig = Figure()
    grid = PanelGrid(fig, len(params), cols=len(params), size=(4.2 * len(params) + 0.4, 3.8), sharey=False)
    axes = grid.axes
    done = [e for e in entries if e.score[:2] == (1, 1)]
    pruned = [e for e in entries if e.trial.status == "pruned" and e.acc("val") is not None]
    failed = [e for e in entries if e.score[:2] != (1, 1) and e not in pruned]
    hue = next((p["key"] for p in params if p["kind"] == "choice"), None) if len(params) > 1 else None
    groups = sorted({show(e.values[hue]) for e in entries}) if hue else [None]
    for ax, p in zip(axes, params):
        key = p["key"]
        categorical = p["kind"] == "choice" and _categorical(key, entries)
        labels = sorted({show(e.values[key]) for e in entries if e.values[key] is not None}) if categorical else []

        def used(group: list[Entry]) -> list[Entry]:
            return [e for e in group if e.values[key] is not None]

        def x_of(group: list[Entry]) -> np.ndarray:
            if categorical:
                return np.array([labels.index(show(e.values[key])) for e in group], dtype=float)
            return np.array([float(e.values[key]) for e in group])

        for g, group in enumerate(groups):
            members = used([e for e in done if hue is None or show(e.values[hue]) == group])
            label = "completed" if hue is None else f"{hue} = {group}"
            ax.scatter(x_of(members), [100 * e.acc("val") for e in members], s=24, alpha=0.8,
                       color=color(g), marker=MARKERS[g % len(MARKERS)], label=label)
        if used(pruned):
            ax.scatter(x_of(used(pruned)), [100 * e.acc("val") for e in used(pruned)], marker="v", s=16,
                       color="0.55", label="pruned (where it stopped)")
        if used(failed):
            ax.scatter(x_of(used(failed)), np.zeros(len(used(failed))), marker="x", color=color(1),
                       label="diverged / failed")
        if used(done[:1]):
            ax.scatter(x_of(done[:1]), [100 * done[0].acc("val")], marker="*", s=160, color="gold",
                       edgecolor="black", zorder=3, label=f"best ({done[0].name})")
        if categorical:
            ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize="small")
            ax.set_xlim(-0.5, len(labels) - 0.5)
        elif p["log"]:
            ax.set_xscale("log")
        ax.set(xlabel=key, ylabel="final validation accuracy (%)", ylim=tuple(opts.y_limits.accuracy or (-3, 103)))
    handles, names = axes[0].get_legend_handles_labels()   # below the panels: inside, it covered points
    legend = fig.legend(handles, names, fontsize="small", loc="lower center", ncols=min(len(names), 4))
    grid.place(fig.suptitle(title, fontsize="medium"), legend)   # margins from the texts: no layout engine
    return fig


def best_figure(manifest: dict, entries: list[Entry], title: str, n: int = BEST_CURVES,
                opts: PlotsConfig | None = None):
    """DLFS's grid of the best trials: validation accuracy solid, training accuracy dashed, against
    the epoch (or plots.x)."""
    from matplotlib.figure import Figure

    from optlab.record.panel_grid import PanelGrid

    opts = opts or PlotsConfig(x="epochs")
    xlabel = "epoch"
    best = [e for e in entries if e.score[:2] == (1, 1)][:n]
    fig = Figure()
    grid = PanelGrid(fig, max(1, len(best)), cols=min(5, max(1, len(best))), panel=(3.0, 2.3))
    keys = [p["key"] for p in manifest["params"]]
    for k, (e, ax) in enumerate(zip(best, grid.axes)):
        m = e.trial.metrics
        x, xlabel = x_values(m, opts, "step", examples_per_step(e.trial.config, e.trial.summary))
        for split, style in (("val", "-"), ("train", "--")):
            acc = m.get(f"{split}_acc", np.array([]))
            ok = np.isfinite(acc)
            ax.plot(x[ok], 100 * acc[ok], style, lw=1.4, color=color(0) if split == "val" else color(1))
        values = ", ".join(f"{key.rsplit('.', 1)[-1]} {show(e.values[key])}" for key in keys)
        # y=1.0: the title stays on the panel's top edge (no x labels there), so matplotlib skips its search
        ax.set_title(f"Best-{k + 1} ({_pct(e.acc('val'))})\n{values}", fontsize="x-small", y=1.0)
        ax.set_ylim(*(opts.y_limits.accuracy or (0, 100)))
        ax.tick_params(labelsize="x-small")
    if not best:
        grid.axes[0].set_axis_off()
    sup = fig.suptitle(f"{title}\naccuracy (%), validation (solid) and training (dashed),\nby {xlabel}",
                       fontsize="medium")
    grid.place(sup)     # margins from the texts' sizes: no layout engine (docs/performance.md, issue #26)
    return fig


def curves_figure(entries: list[Entry], title: str):
    """Every trial's validation accuracy against the step, a pruned trial's curve ending where its
    pruner stopped it (Optuna's intermediate-values plot, from the trials' own metrics.csv)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for e in sorted(entries, key=lambda e: e.trial.status != "pruned"):
        m = e.trial.metrics
        acc = m.get("val_acc", np.array([]))
        ok = np.isfinite(acc)
        if not ok.any():
            continue
        pruned = e.trial.status == "pruned"
        ax.plot(m["step"][ok], 100 * acc[ok], lw=0.9, color="0.6" if pruned else "tab:blue", alpha=0.8)
        if pruned:
            ax.plot(m["step"][ok][-1], 100 * acc[ok][-1], "x", color="tab:red", ms=4)
    n_pruned = sum(e.trial.status == "pruned" for e in entries)
    ax.set(xlabel="step", ylabel="validation accuracy (%)", ylim=(0, 100),
           title=f"{title}: {n_pruned} of {count(len(entries), 'trial')} pruned (grey, x where stopped)")
    ax.title.set_fontsize("medium")
    ax.grid(alpha=0.3)
    return fig


def render_sweep(path: Path, quiet: bool = False, overrides: Iterable[str] = (), files: bool = True) -> None:
    """(Re)write results.md, results.csv, scatter and best figures and report.html from a sweep's files.

    ``quiet``: best effort (after an interruption): skip whatever cannot be rendered.
    ``overrides``: ``plots.*`` settings for this rendering; ``files=False``: only report.html.
    """
    from optlab.record.figure_set import FigureSet
    from optlab.record.html_report import sweep_page
    from optlab.record.plot_options import plot_options
    from optlab.record.style import styled

    path = Path(path)
    rd = RunDir(path)
    try:
        opts = plot_options(path, overrides)
        manifest, entries = leaderboard(path)
        if files:
            rd.write_text("results.md", results_markdown(path, manifest, entries))
            rd.write_text("results.csv", results_csv(manifest, entries))
        title = f"{manifest['name']}: {manifest.get('sampler') or manifest['mode']} search"
        figures = FigureSet(rd, opts, files=files)
        with styled():
            if entries:
                figures.add("scatter", scatter_figure(manifest, entries, title, opts),
                            "final validation accuracy against each swept parameter (best: star)")
            if any(e.score[:2] == (1, 1) for e in entries):
                best_opts = opts if opts.x else opts.model_copy(update={"x": "epochs"})
                figures.add("best", best_figure(manifest, entries, title, opts=best_opts),
                            f"the best {BEST_CURVES} trials' accuracy curves (DLFS ch. 6)")
            if manifest.get("pruner", "none") != "none" and entries:
                figures.add("curves", curves_figure(entries, title),
                            "every trial's validation accuracy by step, pruned ones ending where they stopped")
            budget = budget_report.render_sweep_budget(rd, manifest, entries, figures, files)   # over optimizer.name
        headers, rows = table(manifest, entries)
        dirs = [str(e.trial.path.relative_to(path)) for e in entries]
        from optlab.record.chart_data import sweep_charts

        charts = sweep_charts(entries, opts)
        how = search_method(manifest).replace("`", "")
        rd.write_text("report.html", sweep_page(path, manifest, how, headers, rows, dirs, figures.items, charts,
                                                [budget] if budget is not None else []))
    except Exception:
        if not quiet:
            raise
