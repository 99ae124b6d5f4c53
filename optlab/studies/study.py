"""A kind of study: the protocol a comparison, a sweep and an Optuna sweep implement, and the
session a study command runs in (the kinds themselves: optlab.studies.registry).

A :class:`Study` is known by its manifest (``compare.json``, ``sweep.json``: the row of
optlab.record.reports.DIRECTORIES that renders it; ``claims`` tells two kinds sharing a name apart)
and by the command that makes it (``optlab compare``, ``optlab sweep``). It says

- ``run(plan, runs_root, session)``: a new study directory, its trials, its report;
- ``resume_plan(path, given)`` and ``resume(path, plan, session)``: what ``--resume`` continues,
  read from the study's files (ConfigError when an option in ``given`` asks for what it cannot
  continue), and continuing it (optlab.studies.resume decides each trial from its files);
- ``configs(plan)``: its trials' configs, for the extras and datasets they need;
- ``trials(manifest)``: its trials' run directories;
- ``finished(path, manifest, target)``: its number of trials when ``--resume`` has nothing to do;
- ``report(path)``: its report drawn again, by the record side (optlab.record.reports.render_directory,
  keyed by the same manifest, which ``optlab report DIR`` calls).

Its plan is made by its module (``make_plan``), from options only its command has.

What a study needs besides its plan (the command line, the progress display, where trials run,
whether the trials' own figures are drawn) is one frozen :class:`StudySession`, made once by the
command and passed once. The executor it names is opened once per study
(optlab.studies.executor.open_executor) and handed to each phase or wave.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from optlab.config.loading import ConfigError, Problem, dump_config
from optlab.config.schema import Config
from optlab.record.guard import is_locked
from optlab.record.reports import directory_kind, render_directory, trial_dirs
from optlab.record.rundir import RunDir
from optlab.record.status import owner
from optlab.studies.executor import ExecutorSpec, NullProgress, Outcome, Progress, default_workers, open_executor
from optlab.studies.resume import StudyBusy, contained, state, study_lock


@dataclass(frozen=True)
class StudySession:
    """How a study runs, whatever its kind: ``command`` (recorded in its manifest and every
    trial's meta.json), ``executor`` (where trials run), ``progress`` (the display its trials
    update) and ``trial_reports`` (draw each trial's own figures once the study's report is
    written; False: the caller does, with optlab.record.trial_reports.render_trial_reports over
    the result's ``trial_dirs``, e.g. after showing the results)."""

    command: tuple[str, ...] = field(default_factory=lambda: tuple(sys.argv))
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)
    progress: Progress = field(default_factory=NullProgress)
    trial_reports: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", tuple(self.command))

    @classmethod
    def local(cls, workers: int | None = None, **fields: Any) -> StudySession:
        """A session on a local pool of ``workers`` processes (default: the cores)."""
        return cls(executor=ExecutorSpec("local", workers), **fields)


@dataclass
class StudyResult:
    path: Path
    status: str                       # completed | failed (no trial has a result)
    failed: list[Outcome]             # trials that did not complete (compare: diverged ones too)
    trial_dirs: list[str] = field(default_factory=list)   # every trial's directory


class Study:
    """One kind of study (module docstring). A subclass gives ``new_manifest``, ``load`` and
    ``conduct`` (its trials and report, in the study directory it is given), or overrides
    ``run`` and ``resume`` where its life differs (an Optuna sweep opens its storage)."""

    kind: str            # the command that makes it: optlab KIND, optlab KIND --resume DIR
    what: str            # how messages name it: "comparison", "sweep"
    manifest: str        # its manifest file, the marker of optlab.record.reports.DIRECTORIES

    def claims(self, manifest: dict) -> bool:
        """Whether this study wrote ``manifest`` (two kinds may share a manifest's name)."""
        return True

    def configs(self, plan) -> list[Config]:
        raise NotImplementedError

    def new_manifest(self, plan, session: StudySession) -> dict:
        raise NotImplementedError

    def load(self, path: Path) -> tuple[Any, dict]:
        """The plan of the study in ``path`` and its manifest, from its files."""
        raise NotImplementedError

    def conduct(self, plan, rd: RunDir, manifest: dict, ex, session: StudySession) -> StudyResult:
        raise NotImplementedError

    def keep_files(self, plan, rd: RunDir) -> dict:
        """Write what else the study keeps before any trial runs; the manifest entries naming it."""
        return {}

    def executor(self, plan, spec: ExecutorSpec) -> ExecutorSpec:
        """Where ``plan``'s trials run, given the session's ``spec``."""
        return spec

    def resume_plan(self, path: Path, given: dict) -> Any:
        """The plan ``--resume`` continues, read only (nothing is written); ConfigError naming
        the first option in ``given`` (the command's planning options that were given) it refuses."""
        for option, value in given.items():
            if value:
                raise ConfigError([Problem("--resume", option, f"--resume continues a {self.what} as it was "
                                           f"planned: give no {option} with it")])
        return self.load(path)[0]

    def run(self, plan, runs_root: Path, session: StudySession | None = None) -> StudyResult:
        """Run every trial of ``plan`` in a new directory under ``runs_root`` and render the study.
        The executor is started (or its cluster checked) before the directory is made."""
        session = session or StudySession()
        with open_executor(self.executor(plan, session.executor)) as ex:
            rd = RunDir.create(runs_root, f"{plan.base.name}-{self.kind}")
            with study_lock(rd.path):   # one driver per study (optlab.studies.resume.study_lock)
                rd.write_text("config.yaml", dump_config(plan.base))
                # pid, host: a killed study reads as died (optlab.record.status.study_status)
                manifest = {**self.new_manifest(plan, session), **self.keep_files(plan, rd), "status": "running",
                            **owner()}
                rd.write_json(self.manifest, manifest)
                return self.conduct(plan, rd, manifest, ex, session)

    def resume(self, path: Path, plan=None, session: StudySession | None = None) -> StudyResult:
        """Finish the study in ``path``: keep its finished trials, continue interrupted ones from
        their checkpoints, start the missing ones, then render it. Its plan is read again under
        the study's lock (``plan``, read before, only told the command what the trials need)."""
        session = session or StudySession()
        rd = RunDir(Path(path))
        with study_lock(rd.path):       # one driver per study, before anything is read or written
            plan, manifest = self.load(rd.path)
            with open_executor(self.executor(plan, session.executor)) as ex:
                manifest.setdefault("resumed", []).append({"command": list(session.command),
                                                           "previous_status": manifest["status"]})
                manifest.update(status="running", **owner())
                rd.write_json(self.manifest, manifest)
                return self.conduct(plan, rd, manifest, ex, session)

    def read_manifest(self, path: Path) -> dict:
        """This study's manifest in ``path``, checked to name no directory outside it; ConfigError
        when ``path`` holds none."""
        found = directory_kind(path)
        if found is None or found.marker != self.manifest:
            raise ConfigError([Problem("--resume", "", f"{path}: not a {self.what} (no {self.manifest})")])
        manifest = RunDir(path).read_json(self.manifest)
        if not self.claims(manifest):
            raise ConfigError([Problem("--resume", "", f"{path}: its {self.manifest} is of another kind of "
                                                       f"{self.what}")])
        contained(Path(path), manifest, self.manifest)
        return manifest

    def trials(self, manifest: dict) -> list[str]:
        """The run directories of its trials that ``manifest`` names, a tuning phase's first."""
        return trial_dirs(manifest)

    def report(self, path: Path, overrides: Iterable[str] = (), html_only: bool = False) -> None:
        """Draw the study's report and its trials' again from their files (``optlab report DIR``)."""
        render_directory(path, overrides, html_only)

    def finished(self, path: Path, manifest: dict, target_trials: int | None) -> int | None:
        """The number of trials when the study completed and every trial it planned finished."""
        dirs = self.trials(manifest)
        if manifest.get("status") != "completed" or not dirs:
            return None
        return len(dirs) if all(state(Path(path) / d) == "finished" for d in dirs) else None

    def __repr__(self) -> str:
        return f"<study {self.kind}: {self.manifest}>"


def finished_study(path: Path, study: Study, target_trials: int | None = None) -> int | None:
    """The number of trials of ``study`` in ``path`` when ``--resume`` would find nothing to do;
    None when there is something to resume, or when the normal path must refuse (another driver
    holds the study, its manifest names a path outside it)."""
    if is_locked(Path(path)):
        return None
    try:
        manifest = study.read_manifest(path)
    except (ConfigError, OSError, ValueError):
        return None
    try:
        return study.finished(path, manifest, target_trials)
    except StudyBusy:
        return None


def draw_trial_reports(result: StudyResult, session: StudySession) -> None:
    """Each trial's own figures after the study's (optlab.record.trial_reports), if the session asks."""
    if session.trial_reports:
        from optlab.record.trial_reports import render_trial_reports

        render_trial_reports(result.path, result.trial_dirs, workers=default_workers())
