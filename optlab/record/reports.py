"""``optlab report DIR``: re-render any directory optlab writes — a run, a comparison, a sweep —
from its files alone. The one place that knows every kind of directory, by the file that marks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from optlab.record import guard
from optlab.record.contained import check_manifest
from optlab.record.run_report import render_run
from optlab.record.rundir import RunDir
from optlab.record.status import run_status


def tidy(path: Path) -> list[str]:
    """Remove what atomic writes cut by a kill left in a run directory (``.<name>.<random>.tmp``),
    unless a writer is at work in it (its lock is held, or it says running): those are live."""
    path = Path(path)
    if (path / guard.LOCK_NAME).is_file():
        lock = guard.WriterLock(path)
        try:
            lock.acquire(note=False)
        except guard.Busy:
            return []
        try:
            return guard.remove_stale_temps(path)
        finally:
            lock.release()
    if (path / "meta.json").is_file() and run_status(path) == "running":
        return []
    return guard.remove_stale_temps(path)


def _render_run(path: Path, **options) -> None:
    tidy(path)
    render_run(path, **options)


class NotARunDirectory(ValueError):
    """Neither a run directory (metrics.csv) nor a comparison (compare.json)."""


def render_directory(path: Path, overrides: Iterable[str] = (), html_only: bool = False) -> str:
    """Re-render a run directory, a comparison or a sweep (and each of its trials) from its files.

    ``overrides``: ``plots.*`` settings for this rendering (optlab.record.plot_options), applied
    to the trials too; ``html_only``: rewrite only the report.html pages, leaving figure files and
    tables as they are. Returns "run", "compare" or "sweep"; raises NotARunDirectory for anything
    else (and optlab.config.loading.ConfigError for a bad override).
    """
    path = Path(path)
    overrides = list(overrides)
    files = not html_only
    if (path / "sweep.json").is_file():
        from optlab.record.sweep_report import render_sweep

        manifest = RunDir(path).read_json("sweep.json")
        check_manifest(path, manifest, "sweep.json")    # optlab.record.contained.Outside before any write
        for trial in manifest["trials"]:
            if not trial.get("dir"):
                continue
            if (path / trial["dir"] / "metrics.csv").is_file():
                _render_run(path / trial["dir"], overrides=overrides, files=files)
        render_sweep(path, overrides=overrides, files=files)
        return "sweep"
    if (path / "compare.json").is_file():
        from optlab.record.compare_report import render_compare

        manifest = RunDir(path).read_json("compare.json")
        check_manifest(path, manifest, "compare.json")  # optlab.record.contained.Outside before any write
        for entry in manifest["variants"]:
            for name in [t["dir"] for t in entry.get("tune_trials", [])] + entry["trials"]:
                if (path / name / "metrics.csv").is_file():
                    _render_run(path / name, overrides=overrides, files=files)
        render_compare(path, overrides=overrides, files=files)
        return "compare"
    if (path / "metrics.csv").is_file():
        _render_run(path, overrides=overrides, files=files)   # with landscape/'s figures, if any
        return "run"
    what = "no such directory" if not path.exists() else \
        "not a run directory (no metrics.csv), a comparison (no compare.json) nor a sweep (no sweep.json)"
    raise NotARunDirectory(f"{path}: {what}")
