"""Tables and plots of a comparison, rendered only from the files of its directory.

``render_compare(path)`` reads ``compare.json`` and every trial's run directory (summary.json,
metrics.csv, meta.json, config.yaml) and writes, through optlab.record.rundir:

- ``results.md`` / ``results.csv``: per variant, mean ± std over seeds (sample std, n - 1; over the
  seeds that have the value: a diverged seed has no final loss, the status column counts it) of the
  final training loss, final and peak validation accuracy (with the median step of the peak),
  test accuracy, steps to reach ``--target`` validation accuracy, wall time; the learning rate
  used (chosen, when tuned); the best row marked. Accuracies are fractions in the CSV and
  percentages with one decimal in tables (docs/conventions.md); peak and final both reported.
  The best row: highest mean final validation accuracy among variants whose every trial
  completed (lowest final loss where there is no accuracy, e.g. on a surface).
- ``loss.png``: each variant's training loss, mean over seeds of the DLFS-smoothed curve with a
  ±1 std band and the raw mean faintly behind; log scale when the loss spans decades.
- ``accuracy.png``: validation accuracy, mean ± std over seeds, the target dashed.
- for surfaces (optlab.engine.surfaces), ``trajectories.png``: each optimizer's path on the contours,
  one panel per variant and one with all of them, instead of ``accuracy.png``.

The same files give the same tables byte for byte: ``optlab report DIR`` rebuilds them.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable

from optlab.record.compare_stats import (
    TrialData,
    VariantStats,
    best_index,
    load_compare,
    load_trial,
    mean_std,
    variant_stats,
)
from optlab.record.rundir import RunDir, format_value
from optlab.record.tuning_stats import interval_text, time_to_target_lines, time_to_target_table


def _num(ms: tuple) -> str:
    mean, std = ms
    if mean is None:
        return "—"
    return f"{mean:.4g}" if std is None else f"{mean:.4g} ± {std:.2g}"


def _pct(ms: tuple) -> str:
    mean, std = ms
    if mean is None:
        return "—"
    return f"{100 * mean:.1f} %" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f} %"


def _reached(v: VariantStats) -> str:
    """Median steps over seeds [95 % bootstrap interval], and how many seeds never got there."""
    t = v.ttt
    if t is None or t.seeds == 0:
        return "—"
    if t.missed == t.seeds:
        return "not reached"
    return interval_text(t.steps) + (f"; never by {t.missed} of {t.seeds} seeds" if t.missed else "")


def _status(v: VariantStats) -> str:
    if v.n == 0:
        return "no trials"
    bad = [s for s in v.statuses if s != "completed"]
    if not bad:
        return "completed"
    return ", ".join(f"{s} {bad.count(s)}/{v.n}" for s in dict.fromkeys(bad))


def table(manifest: dict, stats: list[VariantStats]) -> tuple[list[str], list[list[str]], int | None]:
    """(headers, rows of cells, index of the best row) — shared by results.md and the terminal."""
    surface = any(v.surface for v in stats)
    headers = ["variant", "lr (tuned)" if manifest.get("tune") else "lr"]
    if surface:
        headers += ["final f(x, y)", "distance to minimum", "end (x, y)"]
    else:
        headers += ["final train loss", "final val acc", "peak val acc", "step of peak", "test acc"]
        if manifest.get("target") is not None:
            headers.append(f"steps to {100 * manifest['target']:.1f} %")
    headers.append("wall time (s)")
    show_status = any(not v.all_completed for v in stats)
    if show_status:
        headers.append("status")
    rows = []
    for v in stats:
        row = [v.label, "—" if v.lr is None else f"{v.lr:.3g}"]
        if surface:
            end = "—" if v.end is None else f"({v.end[0]:.4g}, {v.end[1]:.4g})"
            row += [_num(v.final_loss), _num(v.distance), end]
        else:
            row += [_num(v.final_loss), _pct(v.final_val), _pct(v.peak_val),
                    "—" if v.peak_step is None else str(v.peak_step), _pct(v.test)]
            if v.reached is not None:
                row.append(_reached(v))
        row.append(_num(v.wall))
        if show_status:
            row.append(_status(v))
        rows.append(row)
    return headers, rows, best_index(stats)


def _md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [f"| {' | '.join(headers)} |", "|" + "---|" * len(headers), *(f"| {' | '.join(r)} |" for r in rows)]


def tune_table(manifest: dict, root: Path) -> tuple[list[str], list[list[str]]]:
    """Learning-rate search: per variant, each grid rate's selection value; the chosen rate starred."""
    from optlab.record.scores import tune_score

    grid = manifest["tune"]["grid"]
    if grid is None:     # each variant's own grid about its rate: columns as factors of that rate
        trials = manifest["variants"][0]["tune_trials"]
        center = (trials[0]["lr"] * trials[-1]["lr"]) ** 0.5 if trials else 1.0
        headers = [f"×{t['lr'] / center:.3g}" for t in trials]
    else:
        headers = [f"{lr:.3g}" for lr in grid]
    rows = []
    for entry in manifest["variants"]:
        cells = [entry["label"]]
        if grid is None:
            cells[0] += f" ({entry['tune_trials'][0]['lr']:.3g}…)" if entry["tune_trials"] else ""
        for t in entry["tune_trials"]:
            score = tune_score(root / t["dir"])
            if score[0] == 0:
                cell = load_trial(root / t["dir"]).status
            elif score[1] == 1:
                cell = f"{100 * score[2]:.1f} %"
            else:
                cell = f"{-score[2]:.4g}"
            cells.append(f"**{cell}**" if t["lr"] == entry["lr"] else cell)
        rows.append(cells)
    return ["variant", *headers], rows


def grid_edge_notes(manifest: dict) -> list[str]:
    """A rate chosen at the end of the grid may not be the best one: the search should go further."""
    tune = manifest.get("tune")
    if not tune:
        return []
    notes = []
    for entry in manifest["variants"]:
        rates = [t["lr"] for t in entry["tune_trials"]]
        if rates and entry["lr"] in (min(rates), max(rates)):
            high = max(rates)
            side = "largest" if entry["lr"] == high else "smallest"
            notes.append(f"{entry['label']}: the chosen rate {entry['lr']:.3g} is the {side} of the grid; "
                         f"a wider --lr-grid may find a better one")
    return notes


def results_markdown(path: Path, manifest: dict, stats: list[VariantStats]) -> str:
    headers, rows, best = table(manifest, stats)
    if best is not None:
        rows[best][0] += " ★"
    seeds = manifest["seeds"]
    varied = "the optimizer" if manifest["varied"] == "optimizer" else f"`{manifest['varied']}`"
    lines = [f"# {path.name}", "",
             f"Compared: {varied}, over {len(seeds)} seed{'s' if len(seeds) > 1 else ''} "
             f"({', '.join(map(str, seeds))}); config `{manifest.get('config', '?')}`"
             + "".join(f" `{o}`" for o in manifest.get("overrides", [])) + ".",
             "Mean ± sample std over seeds; accuracies on the validation set, except test acc; "
             "★ marks the best variant (final validation accuracy, or final loss without one).", ""]
    lines += _md_table(headers, rows)
    if manifest.get("tune"):
        tune = manifest["tune"]
        t_headers, t_rows = tune_table(manifest, path)
        lines += ["", "## Learning-rate search", "",
                  f"Each variant trained once per rate (seed {tune['seed']}), picked by {tune['selection']}; "
                  "the chosen rate in bold.", ""]
        lines += _md_table(t_headers, t_rows)
        notes = grid_edge_notes(manifest)
        if notes:
            lines += ["", *(f"- {note}" for note in notes)]
    if manifest.get("target") is not None:
        lines += time_to_target_lines(manifest["target"], [(v.label, v.ttt) for v in stats if v.ttt is not None])
    lines += ["", "## Trials", ""]
    lines += [f"- {e['label']}: " + ", ".join(f"`{d}`" for d in e["trials"]) for e in manifest["variants"]]
    if manifest.get("status") not in (None, "completed"):   # running, interrupted, failed, died
        lines += ["", f"Status: {manifest['status']}."]
    return "\n".join(lines) + "\n"


CSV_COLUMNS = ["variant", "lr", "seeds", "status", "best",
               "final_train_loss_mean", "final_train_loss_std", "final_val_acc_mean", "final_val_acc_std",
               "peak_val_acc_mean", "peak_val_acc_std", "peak_step", "test_acc_mean", "test_acc_std",
               "target", "steps_to_target_mean", "steps_to_target_std", "target_reached_seeds",
               *(f"{what}_to_target_{k}" for what in ("steps", "examples", "seconds") for k in ("median", "low", "high")),
               "target_missed_fraction",
               "distance_to_minimum_mean", "distance_to_minimum_std", "wall_time_mean_s", "wall_time_std_s"]


def results_csv(manifest: dict, stats: list[VariantStats]) -> str:
    """One row per variant, numbers unformatted (accuracies as fractions); empty where undefined."""
    best = best_index(stats)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for i, v in enumerate(stats):
        hit = [s for s in v.reached if s is not None] if v.reached is not None else []
        to_target = mean_std(hit) if v.reached is not None and len(hit) == len(v.reached) else (None, None)
        values = [v.label, v.lr, v.n, _status(v), int(i == best),
                  *v.final_loss, *v.final_val, *v.peak_val, v.peak_step, *v.test,
                  manifest.get("target"), *to_target, len(hit) if v.reached is not None else None]
        t = v.ttt
        whole = [] if t is None else [x if math.isinf(x) else int(x) for x in (*t.steps, *t.examples)]   # inf: never
        values += [None] * 10 if t is None else [*whole, *t.seconds, t.missed_fraction]
        values += [*v.distance, *v.wall]    # wall time last: the one column that differs between identical runs
        out.writerow([format_value(x) for x in values])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# the whole directory
# ------------------------------------------------------------------------------------------------
def render_compare(path: Path, quiet: bool = False, overrides: Iterable[str] = (), files: bool = True) -> None:
    """(Re)write results.md, results.csv, the figures and report.html of a comparison from its files.

    ``quiet``: best effort (after an interruption): skip whatever cannot be rendered.
    ``overrides``: ``plots.*`` settings for this rendering; ``files=False``: only report.html.
    """
    from optlab.record import budget_report, compare_plots
    from optlab.record.chart_data import compare_charts
    from optlab.record.figure_set import FigureSet
    from optlab.record.kinds import record_of
    from optlab.record.plot_options import plot_options
    from optlab.record.style import styled

    path = Path(path)
    rd = RunDir(path)
    try:
        opts = plot_options(path, overrides)
        manifest, labels, trials = load_compare(path)
        stats = [variant_stats(label, t, manifest.get("target")) for label, t in zip(labels, trials)]
        if files:
            rd.write_text("results.md", results_markdown(path, manifest, stats))
            rd.write_text("results.csv", results_csv(manifest, stats))
        title = f"{manifest.get('name', path.name)}, by {manifest['varied']}"
        surface = any(v.surface for v in stats)
        x_of, xlabel = _x_axis(trials, opts)
        figures = FigureSet(rd, opts, files=files)
        with styled():
            figures.add("loss", compare_plots.loss_figure(labels, trials, title, smoothed=not surface, opts=opts,
                                                          x_of=x_of, xlabel=xlabel),
                        "f along each path" if surface else "training loss: mean over seeds of the smoothed "
                                                            "curve, ±1 std band, raw mean faint")
            if surface:
                if any(t.metrics.get("x") is not None for ts in trials for t in ts):
                    figures.add("trajectories", compare_plots.trajectories_figure(labels, trials, title),
                                "each optimizer's path on the contours")
            elif compare_plots.has_validation(trials):   # no validation data (one example): no empty figure
                figures.add("accuracy", compare_plots.accuracy_figure(labels, trials, title, manifest.get("target"),
                                                                      opts=opts, x_of=x_of, xlabel=xlabel),
                            "accuracy at each evaluation, mean over seeds ±1 std")
            # with --tune: each variant's tuning-budget curve (budget figure, budget.csv, results.md)
            budget = budget_report.render_compare_budget(rd, manifest, figures, files)
        charts = compare_charts(labels, trials, xlabel, opts, x_of, record_of)
        from optlab.record.explorer import configs_explorer
        from optlab.record.html_report import compare_page

        tune = (*tune_table(manifest, path), grid_edge_notes(manifest)) if manifest.get("tune") else None
        explorer = configs_explorer(labels, [ts[0].config for ts in trials]) if surface and all(trials) else None
        extra = [section for section in (
            time_to_target_table(manifest["target"], [(v.label, v.ttt) for v in stats if v.ttt is not None])
            if manifest.get("target") is not None else None, budget) if section is not None]
        rd.write_text("report.html", compare_page(path, manifest, table(manifest, stats), tune,
                                                  [v.statuses for v in stats], figures.items, charts, explorer,
                                                  extra))
    except Exception:
        if not quiet:
            raise


def _x_axis(trials: list[list[TrialData]], opts):
    """(x of a trial's metrics rows, axis label) under plots.x; the comparison's own default."""
    from optlab.record.compare_plots import x_axis
    from optlab.record.plot_options import examples_per_step, x_values

    default = x_axis(trials)
    first = next((t for ts in trials for t in ts if len(t.metrics.get("step", []))), None)
    label = x_values(first.metrics, opts, default, examples_per_step(first.config, first.summary))[1] if first else default

    def x_of(t: TrialData):
        return x_values(t.metrics, opts, default, examples_per_step(t.config, t.summary))[0]
    return x_of, label
