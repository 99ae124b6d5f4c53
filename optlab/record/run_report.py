"""The report of one run, rendered only from the files in its run directory.

``render_run(path)`` reads ``metrics.csv`` and ``summary.json`` and writes ``loss.png``,
``accuracy.png``, ``results.md`` and ``report.html`` (optlab.record.html_report) (through :class:`optlab.record.rundir.RunDir`), and the figures of
the diagnostics the run recorded (optlab.record.diagnostics_plots), so a report can be rebuilt later
without training. Which figures and result lines a run gets is its kind's entry in
optlab.record.kinds (gradient: loss and accuracy; search: each candidate's loss against loss
evaluations; surface: f along the path and ``path.png``). The tables here are also what the
terminal prints.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from optlab.config.kinds import recorded_kind
from optlab.record.diagnostics_plots import technique_facts
from optlab.record.figure_set import FigureSet
from optlab.record.figures import SPLIT_LABELS
from optlab.record.html_report import run_page
from optlab.record.kinds import kind_in, record_of, summary_record, val_label
from optlab.record.plot_options import plot_options
from optlab.record.rundir import RunDir, read_metrics
from optlab.record.status import run_status
from optlab.record.style import styled


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
    summary["kind"] = kind_in(path).name
    return summary


def facts(summary: dict) -> list[tuple[str, str]]:
    """The non-accuracy lines of a run's results: status, the kind's own lines (loss, steps or
    trials, or a surface's path: optlab.record.kinds), budget, time, techniques, divergence."""
    record = summary_record(summary)
    out = [("status", summary.get("status", "?")), *record.facts(summary)]
    if "loss_evals" in summary:
        out.append(("loss evaluations", _budget(summary)))
    out.append(("wall time", f"{summary.get('wall_time_s', 0):.2f} s"))
    out += technique_facts(summary)
    if "diverged_at" in summary:
        out.append(("diverged", record.diverged(summary)))
    return out


def results_markdown(name: str, summary: dict) -> str:
    lines = [f"# {name}", ""]
    if summary_record(summary).kind.learns_from_data:
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
        config = rd.read_config()
        opts = plot_options(rd.path, overrides, config)
        figures = FigureSet(rd, opts, files=files)
        summary = rd.read_json("summary.json") if (rd.path / "summary.json").exists() else None
        kind = recorded_kind(summary, None, config)   # summary.json's, else from config.yaml
        if summary is not None:
            summary = {**summary, "kind": kind.name}
        try:
            with styled():
                charts, scrub = _draw(rd, opts, figures, summary, kind, config)
        except Exception:   # e.g. a run that failed before its first row: the page still says so
            if not quiet:
                raise
            charts, scrub = [], None
        if summary is not None and files:
            rd.write_text("results.md", results_markdown(rd.path.name, summary))
        accuracy = accuracy_rows(summary) if summary and kind.learns_from_data else None
        rd.write_text("report.html", run_page(rd.path, run_status(rd.path), summary, accuracy,
                                              facts(summary) if summary else [], figures.items, charts,
                                              explorer=_explorer(config), scrub=scrub))
    except Exception:
        if not quiet:
            raise


def _draw(rd: RunDir, opts, figures: FigureSet, summary: dict | None, kind, config: dict
          ) -> tuple[list[dict], dict | None]:
    """Draw the figures of the run's kind (optlab.record.kinds) into ``figures``; returns the data
    of the page's interactive curves and of its time slider (optlab.record.scrubber)."""
    m = {k: np.asarray(v) for k, v in read_metrics(rd.path / "metrics.csv").items()}
    return record_of(kind).draw(rd.path, m, summary, config, opts, figures)


def _explorer(config: dict) -> dict | None:
    """The surface explorer at a surface run's settings (optlab.record.explorer); None for other runs."""
    from optlab.record.explorer import configs_explorer

    name = (config.get("optimizer") or {}).get("name")
    return configs_explorer([f"{name} (this run)"], [config])
