"""``optlab report DIR``: re-render any directory optlab writes — a run, a comparison, a sweep —
from its files alone. The one place that knows every kind of directory, by the file that marks it.
"""

from __future__ import annotations

from pathlib import Path

from optlab.record.run_report import render_run
from optlab.record.rundir import RunDir


class NotARunDirectory(ValueError):
    """Neither a run directory (metrics.csv) nor a comparison (compare.json)."""


def render_directory(path: Path) -> str:
    """Re-render a run directory, a comparison or a sweep (and each of its trials) from its files.

    Returns "run", "compare" or "sweep"; raises NotARunDirectory for anything else.
    """
    path = Path(path)
    if (path / "sweep.json").is_file():
        from optlab.record.sweep_report import render_sweep

        for trial in RunDir(path).read_json("sweep.json")["trials"]:
            if (path / trial["dir"] / "metrics.csv").is_file():
                render_run(path / trial["dir"])
        render_sweep(path)
        return "sweep"
    if (path / "compare.json").is_file():
        from optlab.record.compare_report import render_compare

        manifest = RunDir(path).read_json("compare.json")
        for entry in manifest["variants"]:
            for name in [t["dir"] for t in entry.get("tune_trials", [])] + entry["trials"]:
                if (path / name / "metrics.csv").is_file():
                    render_run(path / name)
        render_compare(path)
        return "compare"
    if (path / "metrics.csv").is_file():
        render_run(path)
        from optlab.record.landscape_report import render_landscape

        render_landscape(path)   # landscape/: the figures of `optlab landscape`, from their saved values
        return "run"
    what = "no such directory" if not path.exists() else \
        "not a run directory (no metrics.csv), a comparison (no compare.json) nor a sweep (no sweep.json)"
    raise NotARunDirectory(f"{path}: {what}")
