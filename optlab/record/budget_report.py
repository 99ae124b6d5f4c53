"""Tuning-budget curves of a study: per optimizer, the expected best validation accuracy after k
tuning trials (Dodge et al. 2019; optlab.record.tuning_stats), as a table, a CSV and a figure.

Where they come from: ``optlab compare --tune lr`` (each variant's learning-rate trials) and a
sweep that varies ``optimizer.name`` (its trials grouped by optimizer). Each trial counts with its
final validation accuracy; a pruned trial with the accuracy where it was stopped (the pruner judged
it no better); a diverged or failed one with 0 (it is never the one a tuner keeps). A grid of
rates is treated as the search distribution (each rate equally likely); with pruning the curve
is that of the pruned search, not of training every trial to the end.

Written: ``budget.png`` (in ``plots.format``), ``budget.csv`` (label, k, expected best, band low,
band high) and a "Tuning budget" section of ``results.md``; the study's report.html shows the
figure and the table too. The bands are seeded, so re-rendering gives the same files.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from optlab.record.rundir import RunDir, format_value
from optlab.record.tuning_stats import BOOTSTRAP, LEVEL, Budget, budget_curve
from optlab.record.words import count


def trial_value(run_dir: Path) -> float:
    """A trial's validation accuracy for the budget (module docstring)."""
    try:
        rd = RunDir(Path(run_dir))
        summary = rd.read_json("summary.json")
    except (OSError, ValueError):
        return 0.0
    if summary.get("status") not in ("completed", "pruned"):
        return 0.0
    value = ((summary.get("accuracy") or {}).get("val") or {}).get("final")
    return float(value) if value is not None and math.isfinite(value) else 0.0


def budgets(groups: dict[str, list[Path]]) -> list[Budget]:
    """One curve per label with at least one trial."""
    return [budget_curve(label, [trial_value(d) for d in dirs]) for label, dirs in groups.items() if dirs]


def _ks(n: int) -> list[int]:
    ks = [k for k in (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000) if k < n]
    return [*ks, n]


TITLE = "Tuning budget"


def budget_table(items: list[Budget], source: str) -> tuple[str, list[str], list[list[str]]]:
    """(note, headers, rows) of the "Tuning budget" section (results.md and report.html)."""
    n = max(len(b.values) for b in items)
    ks = _ks(n)
    note = (f"Expected best validation accuracy after k trials (Dodge et al. 2019, over {source}), "
            f"[{100 * LEVEL:.0f} % bootstrap band, {BOOTSTRAP} resamples]; budget.png, budget.csv.")
    headers = ["optimizer", "trials", *(f"k = {k}" for k in ks[:-1]), "k = all its trials"]

    def cell(b: Budget, k: int) -> str:
        return f"{100 * b.mean[k - 1]:.1f} % [{100 * b.low[k - 1]:.1f}, {100 * b.high[k - 1]:.1f}]"

    rows = [[b.label, str(len(b.values)), *(cell(b, k) if k < len(b.mean) else "—" for k in ks[:-1]),
             cell(b, len(b.mean))] for b in items]
    return note, headers, rows


def markdown(items: list[Budget], source: str) -> list[str]:
    note, headers, rows = budget_table(items, source)
    return ["", f"## {TITLE}", "", note, "", f"| {' | '.join(headers)} |", "|" + "---|" * len(headers),
            *(f"| {' | '.join(r)} |" for r in rows)]


def budget_csv(items: list[Budget]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["label", "k", "expected_best_val_acc", "band_low", "band_high", "trials"])
    for b in items:
        for k in range(1, len(b.mean) + 1):
            out.writerow([format_value(x) for x in (b.label, k, b.mean[k - 1], b.low[k - 1], b.high[k - 1],
                                                    len(b.values))])
    return buf.getvalue()


def budget_figure(items: list[Budget], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.subplots()
    for i, b in enumerate(items):
        k = range(1, len(b.mean) + 1)
        ax.plot(k, [100 * v for v in b.mean], "-o", ms=3, color=f"C{i}", label=f"{b.label} ({count(len(b.values), 'trial')})")
        ax.fill_between(k, [100 * v for v in b.low], [100 * v for v in b.high], color=f"C{i}", alpha=0.18, lw=0)
    ax.set(xlabel="tuning trials k", ylabel="expected best validation accuracy (%)",
           title=f"{title}: expected best after k trials, {100 * LEVEL:.0f} % bootstrap band")
    ax.title.set_fontsize("medium")
    if max(len(b.mean) for b in items) > 20:
        ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return fig


CAPTION = "expected best validation accuracy after k tuning trials, with bootstrap bands"


def write(rd: RunDir, items: list[Budget], title: str, source: str, figures=None, files: bool = True):
    """budget.csv and the section appended to results.md (``files``), and the figure: through
    ``figures`` (an optlab.record.figure_set.FigureSet: the study's format, and its page), else
    budget.png. Returns the page's section (title, HTML-ready parts) or None without curves."""
    if not items:
        return None
    if files:
        rd.write_text("budget.csv", budget_csv(items))
        results = rd.path / "results.md"
        if results.exists():
            rd.write_text("results.md", results.read_text(encoding="utf-8") + "\n".join(markdown(items, source)) + "\n")
    fig = budget_figure(items, title)
    if figures is not None:
        figures.add("budget", fig, CAPTION)
    elif files:
        rd.write_figure("budget.png", fig)
    return (TITLE, *budget_table(items, source))


def render_sweep_budget(rd: RunDir, manifest: dict, entries, figures=None, files: bool = True):
    """For a sweep that varies optimizer.name: one curve per optimizer (its trials that ran)."""
    if "optimizer.name" not in [p["key"] for p in manifest["params"]]:
        return None
    groups: dict[str, list[Path]] = {}
    for e in sorted(entries, key=lambda e: e.index):
        groups.setdefault(str(e.values["optimizer.name"]), []).append(e.trial.path)
    return write(rd, budgets(groups), manifest["name"], "each optimizer's trials of this sweep", figures, files)


def render_compare_budget(rd: RunDir, manifest: dict, figures=None, files: bool = True):
    """For ``compare --tune lr``: one curve per variant over its learning-rate trials."""
    if not manifest.get("tune"):
        return None
    from optlab.record.style import styled

    groups = {e["label"]: [rd.path / t["dir"] for t in e["tune_trials"] if (rd.path / t["dir"]).exists()]
              for e in manifest["variants"]}
    with styled():   # plain-text labels (optlab.record.style)
        return write(rd, budgets(groups), manifest.get("name", rd.path.name),
                     "each variant's learning-rate grid, a rate drawn uniformly from it", figures, files)
