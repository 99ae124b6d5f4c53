"""What ``optlab compare`` and ``optlab sweep`` share once their options are parsed: the options
every study command has (:class:`StudyCommand`), running a planned study or resuming the one in a
directory (found by its manifest: optlab.studies.registry.study_in) under one progress display, and
what follows it on the terminal (results, the trials' own figures, the failed trials, exit 1)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import typer

from optlab.cli.app import DEBUG, EXIT_FAILED
from optlab.cli.common import bad_input, bad_problems, err_console, print_failure, require_extras


@dataclass(frozen=True)
class StudyCommand:
    """The options every study command has, parsed: the command (``compare``, ``sweep``), where
    trials run (an optlab.studies.executor.ExecutorSpec), and what the terminal shows."""

    name: str
    executor: object
    quiet: bool = False
    debug: bool = False
    trial_figures: bool = True
    top: int = 10                       # leaderboard rows a sweep shows
    fmt: Optional[str] = None           # --format, which a resume refuses (its plan has its own)
    tensorboard: bool = False


def executor_spec(kind: str, scheduler: Optional[str], workers: Optional[int]):
    """--executor / --scheduler / --workers as an ExecutorSpec, or exit 2."""
    from optlab.studies.executor import KINDS, ExecutorSpec

    if kind not in KINDS:
        raise bad_input(f"--executor: one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "local" and scheduler:
        raise bad_input("--scheduler (or OPTLAB_SCHEDULER) needs --executor dask")
    return ExecutorSpec(kind, workers, scheduler)


def writable_root(runs_dir: Optional[Path]) -> Path:
    """The runs directory, or exit 2 if no directory can be made in it (as ``optlab train``)."""
    from optlab.record.rundir import RunDirError, check_writable, default_runs_root

    root = runs_dir or default_runs_root()
    try:
        check_writable(root)
    except RunDirError as exc:
        raise bad_input(str(exc)) from None
    return root


def run_study(cmd: StudyCommand, study, plan, runs_dir: Optional[Path] = None, resume: Optional[Path] = None) -> None:
    """Run ``plan`` (a new study in ``runs_dir``, or the one in ``resume`` continued) in one
    session, then show its results, draw its trials' figures and exit 1 if a trial failed."""
    from optlab.studies.study import StudySession

    root = None
    if resume is None:
        ensure_study_data(study.configs(plan), cmd.debug)
        root = writable_root(runs_dir)
    with study_progress(study, cmd.quiet, cmd.debug) as progress:
        session = StudySession(tuple(sys.argv), cmd.executor, progress, trial_reports=False)
        result = study.run(plan, root, session) if resume is None else study.resume(resume, plan, session)
    show_results(study.kind, result.path, cmd.top)
    draw_trial_reports(result, cmd.quiet, cmd.trial_figures)
    report_failed(result.failed)


def resume_study(cmd: StudyCommand, path: Path, given: dict, trials: Optional[int] = None) -> None:
    """``--resume PATH``: the study there (its manifest says which), its plan with the planning
    options ``given`` (exit 2 for what it cannot continue), then :func:`run_study`; nothing to do
    for a complete study but show its results."""
    from optlab.config.loading import ConfigError
    from optlab.studies.registry import study_in

    try:
        study = study_in(path, cmd.name)
        plan = study.resume_plan(path, given)
    except ConfigError as exc:
        raise bad_problems(exc.problems) from None
    except ImportError as exc:   # optlab.studies.optuna_parts.MissingExtra: says what to install
        raise bad_input(str(exc)) from None
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as exc:   # a manifest cut short or edited
        raise bad_input(f"{path}: its manifest cannot be read as a {cmd.name}'s ({type(exc).__name__}: {exc}); "
                        "was it cut short or edited?") from None
    say_warnings(plan)
    if nothing_to_resume(path, study, trials, cmd.top):
        return
    resume_extras(study.configs(plan), cmd.fmt, cmd.tensorboard, study.what)
    run_study(cmd, study, plan, resume=path)


def say_warnings(plan) -> None:
    from optlab.terminal import say

    for warning in getattr(plan, "warnings", []):
        say(err_console(), "warning", warning, "yellow")


def show_results(kind: str, path: Path, top: int = 10) -> None:
    """A study's results on the terminal: a comparison's table, a sweep's leaderboard."""
    from optlab.terminal import print_compare_results, print_sweep_results

    show = {"compare": print_compare_results, "sweep": lambda p: print_sweep_results(p, top=top)}
    show[kind](path)


def resume_extras(configs, fmt: Optional[str], tensorboard: bool, what: str) -> None:
    """Before a resumed study runs a trial: exit 2 if its trials need an extra that is missing
    (``--tensorboard`` given again counts too), or if ``--format``/``--tensorboard`` ask for what
    the study was not planned with (a resume continues the plan as it was)."""
    from optlab.record.tensorboard import TensorBoardMissing, require

    for cfg in configs:
        require_extras(cfg)
    if tensorboard:
        try:
            require()
        except TensorBoardMissing as exc:
            raise bad_input(str(exc)) from None
        if not all(cfg.logging.tensorboard for cfg in configs):
            raise bad_input(f"--resume continues the {what} as it was planned, without TensorBoard event files: "
                            "drop --tensorboard (or start a new one with it)")
    if fmt is not None and any(cfg.plots.format != fmt for cfg in configs):
        raise bad_input(f"--resume continues the {what} as it was planned: drop --format "
                        f"(optlab report DIR --format {fmt} redraws its figures)")


def ensure_study_data(configs, debug: bool) -> None:
    """Each dataset a study's trials read, found (or downloaded) once before any trial starts:
    where one is missing, its message once and exit 1, before the study's directory exists."""
    from optlab.cli.common import ensure_data

    seen = set()
    console = err_console()
    for cfg in configs:
        data = cfg.data
        if data is None:
            continue
        key = (data.name, getattr(data, "root", None), getattr(data, "allow_unverified", False))
        if key not in seen:
            seen.add(key)
            ensure_data(cfg, console, debug)


def nothing_to_resume(path: Path, study, trials: Optional[int], top: int) -> bool:
    """A complete study given to --resume: its results as they are, and that there is nothing to
    do (its report is not drawn again: `optlab report DIR` does that when asked)."""
    from optlab.studies.study import finished_study

    n = finished_study(path, study, trials)
    if n is None:
        return False
    show_results(study.kind, path, top)
    err_console().print(f"nothing to do: {path} is complete ({n} trial{'s' if n != 1 else ''} finished); "
                        f"`optlab report {path}` draws its report again", markup=False, soft_wrap=True)
    return True


@contextmanager
def study_progress(study, quiet: bool, debug: bool) -> Iterator:
    """One progress display for a study's trials: Ctrl-C exits 130 keeping the trials written; an
    error is one line and exit 1 (unless --debug), with where the study is and how to resume it."""
    from optlab.config.loading import ConfigError
    from optlab.studies.executor import ClusterLost, ExecutorError
    from optlab.studies.resume import StudyBusy
    from optlab.terminal import CompareProgress

    console = err_console()
    try:
        with CompareProgress(console, disable=quiet) as progress:
            yield progress
    except (ExecutorError, StudyBusy) as exc:   # found before any trial started
        raise bad_input(str(exc)) from None
    except ConfigError as exc:                  # a manifest or storage that the study refuses
        raise bad_problems(exc.problems) from None
    except ClusterLost as exc:
        from optlab.terminal import print_error

        print_error(console, str(exc))
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt as exc:   # Stopped (a graceful stop) or Abort (a second signal) carry the signal
        from optlab.training.interrupt import interrupt_exit_code

        console.print(f"[yellow]interrupted[/]: the {study.what} keeps the trials that were written "
                      "(status: interrupted)")
        _resume_hint(console, study, exc)
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except Exception as exc:
        if debug or DEBUG["on"]:
            raise
        print_failure(console, exc)
        _resume_hint(console, study, exc)
        raise typer.Exit(EXIT_FAILED) from None


def _resume_hint(console, study, exc: BaseException) -> None:
    """Where a stopped or dead study is and the command that finishes it (as ``optlab train``
    says for a run); nothing where the study's directory was never made."""
    path = getattr(exc, "study_dir", None)
    if path is None:
        return
    console.print(f"study directory: {path}\ncontinue with: optlab {study.kind} --resume {path}",
                  markup=False, soft_wrap=True)


def draw_trial_reports(result, quiet: bool, wanted: bool) -> None:
    """Each trial's own figures, drawn once the study's results are on screen (Ctrl-C skips them)."""
    from optlab.record.trial_reports import render_trial_reports
    from optlab.record.words import count
    from optlab.studies.executor import default_workers

    console = err_console()
    if not wanted:
        if not quiet:
            console.print(f"each trial's own figures: optlab report {result.path}/TRIAL_DIR", markup=False,
                          soft_wrap=True)
        return
    if not quiet:
        console.print(f"drawing each trial's own figures ({count(len(result.trial_dirs), 'trial')}; Ctrl-C skips them, "
                      f"`optlab report {result.path}` draws them later)", markup=False, soft_wrap=True)
    try:
        render_trial_reports(result.path, result.trial_dirs, workers=default_workers())
    except KeyboardInterrupt:
        console.print(f"skipped: `optlab report {result.path}` draws them", markup=False, soft_wrap=True)


def report_failed(failed) -> None:
    """A line per trial that did not complete (its message), then exit 1; nothing if none."""
    from optlab.terminal import say

    console = err_console()
    for outcome in failed:
        detail = f": {outcome.error}" if outcome.error else ""
        say(console, outcome.status, f"{outcome.dir_name}{detail}")
    if failed:
        raise typer.Exit(EXIT_FAILED)
