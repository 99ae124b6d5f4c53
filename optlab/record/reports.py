"""``optlab report DIR``: re-render any directory optlab writes — a run, a comparison, a sweep —
from its files alone.

:data:`DIRECTORIES` is the one table of the kinds of directory, each known by the file that
marks it (a run's metrics.csv, a study's manifest); a new kind of study adds a row here, and
optlab.studies.registry finds the study in a directory through :func:`directory_kind` too. A
renderer is named as ``module:function`` and imported when used, so ``optlab report RUN`` never
imports a sweep's figures. (The kinds of run, gradient, search or surface, are optlab.record.kinds.)
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from optlab.record import guard
from optlab.record.contained import check_manifest, manifest_dirs
from optlab.record.rundir import RunDir
from optlab.record.status import run_status


@dataclass(frozen=True)
class DirectoryKind:
    """A kind of directory: what ``render_directory`` returns for it, the file that marks it, how a
    message names it, and its renderer (``module:function``, called as ``render(path, overrides=,
    files=)``). A study's marker is its manifest, which names its trials' run directories."""

    name: str
    marker: str
    what: str
    render: str
    study: bool = True

    def renderer(self) -> Callable[..., None]:
        module, _, function = self.render.partition(":")
        return getattr(importlib.import_module(module), function)


DIRECTORIES = (
    DirectoryKind("run", "metrics.csv", "a run directory", "optlab.record.reports:_render_run", study=False),
    DirectoryKind("compare", "compare.json", "a comparison", "optlab.record.compare_report:render_compare"),
    DirectoryKind("sweep", "sweep.json", "a sweep", "optlab.record.sweep_report:render_sweep"),
)


class NotARunDirectory(ValueError):
    """A directory of none of the :data:`DIRECTORIES`."""


def directory_kind(path: Path) -> DirectoryKind | None:
    """The kind of directory ``path`` is, by the file that marks it; None for none of them."""
    return next((k for k in sorted(DIRECTORIES, key=lambda k: not k.study) if (Path(path) / k.marker).is_file()),
                None)   # a study's manifest first: it says more than a metrics.csv beside it


def none_of(kinds: Iterable[DirectoryKind]) -> str:
    """``a run directory (no metrics.csv), a comparison (no compare.json) nor a sweep (no sweep.json)``."""
    said = [f"{k.what} (no {k.marker})" for k in kinds]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} nor {said[-1]}"


def why_not(path: Path) -> str:
    """Why ``path`` is none of the :data:`DIRECTORIES`: ``no such directory``, or ``not`` and
    :func:`none_of` them."""
    return "no such directory" if not Path(path).exists() else f"not {none_of(DIRECTORIES)}"


def trial_dirs(manifest: dict) -> list[str]:
    """The run directories a study's manifest names, in its order (a tuning phase's first)."""
    return [name for _, name in manifest_dirs(manifest)]


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
    from optlab.record.run_report import render_run

    tidy(path)
    render_run(path, **options)   # with landscape/'s figures, if any


def render_directory(path: Path, overrides: Iterable[str] = (), html_only: bool = False) -> str:
    """Re-render a run directory or a study (and each of its trials) from its files.

    ``overrides``: ``plots.*`` settings for this rendering (optlab.record.plot_options), applied
    to the trials too; ``html_only``: rewrite only the report.html pages, leaving figure files and
    tables as they are. Returns the kind's name (``run``, ``compare``, ``sweep``); raises
    NotARunDirectory for anything else (and optlab.config.loading.ConfigError for a bad override).
    """
    path = Path(path)
    kind = directory_kind(path)
    if kind is None:
        raise NotARunDirectory(f"{path}: {why_not(path)}")
    options = dict(overrides=list(overrides), files=not html_only)
    if kind.study:
        manifest = RunDir(path).read_json(kind.marker)
        check_manifest(path, manifest, kind.marker)    # optlab.record.contained.Outside before any write
        for name in trial_dirs(manifest):
            if (path / name / "metrics.csv").is_file():
                _render_run(path / name, **options)
    kind.renderer()(path, **options)
    return kind.name
