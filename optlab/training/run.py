"""Run one experiment: build data, model, loss, penalty and optimizer from a config, train, and
record everything in a run directory.

The config's kind of run (optlab.config.kinds: gradient, search or surface) picks the loop from
the table in :mod:`optlab.training.kinds`; the kind is written to meta.json and summary.json as
``"kind"``, so the record side never has to guess it. Every loop counts loss evaluations
(:mod:`optlab.training.budget`), the one budget its strategies share; metrics.csv records it
beside steps and wall time. The same config and seed give identical metrics.

How a run can end, and what its directory then says (meta.json ``status``):

- ``completed``; a checkpoint is written, so ``--resume`` can extend it;
- ``diverged``: the mini-batch loss was NaN / inf, or above ``train.divergence_factor`` times the
  step-0 training loss; the run stops at that step, summary.json says where and why;
- ``interrupted``: a graceful stop (:mod:`optlab.training.interrupt`) was requested; the step in progress
  finishes, a checkpoint is written, then the run stops;
- ``pruned``: an ``interrupted`` run whose sweep's pruner asked it to stop (set afterwards by the
  sweep, optlab.studies.tune); its checkpoint is there and ``--resume`` continues it;
- ``failed``: an exception (its message is in meta.json);
- ``running`` with a stale heartbeat or a dead pid: killed (:func:`optlab.record.status.run_status`).

Problems found before training are raised before any run directory exists: an unusable runs
directory (:class:`~optlab.record.rundir.RunDirError`) or a config that cannot be built
(:class:`SetupError`); refused resumptions raise :class:`~optlab.training.checkpoint.CheckpointError`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from optlab.config.loading import dump_config
from optlab.config.schema import Config
from optlab.engine.schedules import Schedule
from optlab.record import run_report
from optlab.record.guard import Busy, links_in
from optlab.record.rundir import RunDir, RunDirError, check_space, check_writable
from optlab.training import checkpoint
from optlab.training.gradient_loop import EvalFn, ProgressFn, check_restorable
from optlab.training.interrupt import LATE_STOP_NOTE, Abort, StopRequest
from optlab.training.kinds import loop_of
from optlab.training.setup import Setup, SetupError, build_setup, total_steps
from optlab.training.threads import limited, run_threads

__all__ = ["DiskFull", "Result", "Setup", "SetupError", "resume", "run"]


@dataclass
class Result:
    run_dir: Path
    status: str      # completed | diverged | interrupted | failed
    summary: dict


def run(config: Config, runs_root: Path, *, on_step: ProgressFn | None = None,
        command: list[str] | None = None, stop: StopRequest | None = None,
        dir_name: str | None = None, on_eval: EvalFn | None = None, render: bool = True,
        origin: str | None = None) -> Result:
    """Train ``config`` into a new run directory under ``runs_root`` and render its report.

    The directory is ``<date>_<time>_<config.name>``, or exactly ``dir_name`` when given (the
    trials of a comparison). ``origin``: where the config came from (a path or ``recipe:NAME``),
    recorded in meta.json.

    Before anything is created: ``runs_root`` must be writable with room for the run
    (RunDirError) and the config must build (SetupError). After that, whatever happens, the run
    directory says so in meta.json and summary.json. ``stop``: poll it to stop gracefully
    (optlab.training.interrupt.graceful_stop). ``on_eval(step, row)``: after each evaluation (the
    gradient loop). ``render=False``: write no figures (a study's trial: the study renders them
    after its own, optlab.record.trial_reports).
    """
    runs_root = Path(runs_root)
    check_writable(runs_root)
    _require_extras(config)
    setup = build_setup(config) if config.kind.learns_from_data else None
    check_space(runs_root, loop_of(config).disk_bytes(config, setup))
    try:
        rd = RunDir.create(runs_root, dir_name or config.name, stamp=dir_name is None)
    except OSError as exc:
        raise RunDirError(f"cannot create a run directory under {runs_root}: {exc.strerror or exc}") from None
    try:
        lock = rd.lock().acquire()           # held for the life of the run: one writer (optlab.record.guard)
        rd.write_text("config.yaml", dump_config(config))
        rd.start(command, origin, kind=config.kind.name)
    except (OSError, Busy) as exc:
        # nothing has run yet: leave no half-made directory behind
        for leftover in rd.path.iterdir():
            leftover.unlink()
        rd.path.rmdir()
        raise RunDirError(f"cannot write to {rd.path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return _execute(rd, config, setup, on_step, stop or StopRequest(), None, on_eval, render)
    finally:
        lock.release()


def _require_extras(config: Config) -> None:
    """SetupError before anything is created when the config needs a missing optional extra."""
    from optlab.record.tensorboard import TensorBoardMissing, require_for

    try:
        require_for(config)
    except TensorBoardMissing as exc:
        raise SetupError(str(exc)) from None


def resume(run_dir: Path, config: Config, *, on_step: ProgressFn | None = None,
           command: list[str] | None = None, stop: StopRequest | None = None, on_eval: EvalFn | None = None,
           render: bool = True) -> Result:
    """Continue ``run_dir`` from its checkpoint up to ``config``'s length, in the same directory.

    ``config`` must equal the run's own config except for train.iterations / train.epochs /
    train.checkpoint_every (checkpoint.CheckpointError names any other difference). metrics.csv
    loses the rows written after the checkpoint and is then appended to, so the finished run's
    files equal those of a run that was never stopped (but for wall times).

    Everything is checked before anything is changed, holding the directory's writer lock (a
    second writer: RunDirError): meta.json, metrics.csv, the whole checkpoint (restored into
    throw-away parts), the new length, the disk. A refused resume leaves the directory
    byte-for-byte as it was.
    """
    rd = RunDir(Path(run_dir))
    if not (rd.path / "meta.json").is_file():   # before the lock: it would create a file in any folder
        raise checkpoint.CheckpointError(f"{rd.path}: not a run directory (no meta.json)")
    lock = _take_lock(rd)
    try:
        ckpt, setup = _check_resume(rd, config)
    except BaseException:
        lock.release(discard=True)
        raise
    try:
        rd.remove_stale_temps()
        rd.truncate_metrics(ckpt.step)
        if (rd.path / "diagnostics.csv").is_file():
            rd.truncate_metrics(ckpt.step, name="diagnostics.csv")
        rd.write_text("config.yaml", dump_config(config))   # the new length; re-running it repeats the run
        for stale in ("summary.json", "results.md"):        # they described the run before it resumed
            rd.remove(stale)
        rd.restart(command, ckpt.step, kind=config.kind.name)
        return _execute(rd, config, setup, on_step, stop or StopRequest(), ckpt, on_eval, render)
    finally:
        lock.release()


def _take_lock(rd: RunDir):
    try:
        return rd.lock().acquire()
    except Busy as exc:
        raise RunDirError(str(exc)) from None


def _check_resume(rd: RunDir, config: Config) -> tuple[checkpoint.Checkpoint, Setup]:
    """Every check of a resume, reading only: CheckpointError / RunDirError / SetupError."""
    refused = loop_of(config).no_checkpoint
    if refused is not None:
        raise checkpoint.CheckpointError(f"{rd.path}: {refused.format(strategy=config.search.strategy)}")
    links = links_in(rd.path)
    if links:
        raise checkpoint.CheckpointError(f"{rd.path}: refusing to resume: it holds symbolic links "
                                         f"({'; '.join(links)}), and optlab writes no file through a link")
    ckpt = checkpoint.prepare_resume(rd.path, config)
    _require_extras(config)
    checkpoint.check_tables(rd.path)
    check_writable(rd.path)
    setup = build_setup(config)
    steps, per_epoch = total_steps(config, len(setup.data.train))
    stopped_at = ckpt.extra.get("early_stopping", {}).get("stopped_at")
    if stopped_at is not None:
        raise checkpoint.CheckpointError(
            f"{rd.path}: early stopping ended the run at step {stopped_at} (train.early_stopping); a longer run "
            "would have stopped there too, so there is nothing to continue")
    if steps <= ckpt.step:
        raise checkpoint.CheckpointError(
            f"{rd.path}: the checkpoint is at step {ckpt.step} and the config asks for {steps} steps; "
            f"ask for more, e.g. train.iterations={ckpt.step + max(ckpt.step, 1)}")
    try:
        saved = Config.model_validate(ckpt.info["config"])
    except ValueError as exc:
        raise checkpoint.CheckpointError(f"{rd.path}: the checkpoint's config is not valid: {exc}") from None
    saved_steps, _ = total_steps(saved, len(setup.data.train))
    schedule = Schedule(config.optimizer.schedule.model_dump(), config.optimizer.lr, steps, per_epoch)
    if schedule.depends_on_length and steps != saved_steps:
        raise checkpoint.CheckpointError(
            f"{rd.path}: the cosine schedule spans the run's {saved_steps} steps (optimizer.schedule.period: null); "
            f"over {steps} steps it would have used other rates for the steps already taken. Start a new run, "
            "or give the schedule a period")
    check_restorable(config, setup, ckpt)
    check_space(rd.path, loop_of(config).disk_bytes(config, setup))
    return ckpt, setup


class DiskFull(Exception):
    """The disk (or quota) filled up during a run: it is stopped, exit 1, and can be resumed."""


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _disk_full(rd: RunDir, exc: OSError) -> DiskFull:
    """Record what can be recorded (best effort: the disk is full) and say how to go on."""
    try:
        rd.finish("failed", error=f"disk full: {exc.strerror or exc}")
    except OSError:
        pass    # meta.json keeps "running"; with this process gone it reads as died, which resumes too
    ckpt = (rd.path / checkpoint.NAME).is_file()
    how = (f"free some space, then continue from the last checkpoint with: optlab train --resume {rd.path}"
           if ckpt else "free some space and run it again (no checkpoint had been written; "
                        "set train.checkpoint_every to keep some)")
    return DiskFull(f"no space left while writing the run directory {rd.path} ({exc.strerror or exc}); {how}")


def _execute(rd: RunDir, config: Config, setup: Setup | None, on_step: ProgressFn | None, stop: StopRequest,
             ckpt: checkpoint.Checkpoint | None, on_eval: EvalFn | None = None, render: bool = True) -> Result:
    board = _tensorboard(rd, config, ckpt)
    try:
        return _train_and_report(rd, config, setup, on_step, stop, ckpt, on_eval, render)
    finally:
        if board is not None:
            board.close()


def _tensorboard(rd: RunDir, config: Config, ckpt: checkpoint.Checkpoint | None):
    """With logging.tensorboard: event files fed from metrics.csv's rows (optlab.record.tensorboard)."""
    if not config.logging.tensorboard:
        return None
    from optlab.record.tensorboard import TensorBoardLog

    board = TensorBoardLog(rd.path, config.model_dump(mode="json"), loop_of(config).columns,
                           purge_from=None if ckpt is None else ckpt.step + 1)
    rd.listen("metrics.csv", board.write)
    return board


def _train_and_report(rd: RunDir, config: Config, setup: Setup | None, on_step: ProgressFn | None,
                      stop: StopRequest, ckpt: checkpoint.Checkpoint | None, on_eval: EvalFn | None,
                      render: bool) -> Result:
    def draw(quiet: bool) -> None:
        if render:
            run_report.render_run(rd.path, quiet=quiet)

    try:
        # one BLAS thread: faster steps, a worker's numbers (optlab.training.threads); a run
        # without data multiplies no matrices
        with limited(run_threads() if setup is not None else None):
            loop = loop_of(config).train
            summary = {"kind": config.kind.name, **loop(config, setup, rd, on_step, stop, ckpt, on_eval)}
    except Abort as exc:        # a second signal: record it and leave at once (no plotting)
        with stop.shielded():
            rd.finish("interrupted", signal=exc.args[0], note="stopped at once by a second signal")
        raise
    except KeyboardInterrupt:   # Ctrl-C without graceful_stop (e.g. a library user)
        rd.finish("interrupted", signal="SIGINT")
        draw(quiet=True)
        raise
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            _failed(rd, exc, draw)
            raise
        raise _disk_full(rd, exc) from None
    except Exception as exc:
        _failed(rd, exc, draw)
        raise
    try:
        with stop.shielded():
            _late_stop(summary, stop)
            rd.write_json("summary.json", summary)
            rd.finish(summary["status"], **_stop_fields(summary, stop))
        draw(quiet=summary["status"] != "completed")
        if stop.stops_a_finished_run() and summary["status"] == "completed":
            # the stop came while plotting: the run is whole, but the exit says interrupted, so must the run
            with stop.shielded():
                _late_stop(summary, stop)
                rd.write_json("summary.json", summary)
                rd.finish(summary["status"], **_stop_fields(summary, stop))
            draw(quiet=True)    # results.md says so too
    except OSError as exc:
        if exc.errno not in _NO_ROOM:
            raise
        raise _disk_full(rd, exc) from None
    return Result(rd.path, summary["status"], summary)


def _failed(rd: RunDir, exc: BaseException, draw) -> None:
    rd.finish("failed", error=f"{type(exc).__name__}: {exc}")
    draw(quiet=True)


def _late_stop(summary: dict, stop: StopRequest) -> None:
    """A stop asked for after the last step (during the test pass or the plots) still makes the
    run ``interrupted``: its exit status (128 + signal), the terminal and meta.json then agree."""
    if stop.stops_a_finished_run() and summary["status"] == "completed":
        summary["status"] = "interrupted"
        summary["note"] = LATE_STOP_NOTE


def _stop_fields(summary: dict, stop: StopRequest) -> dict:
    if summary["status"] != "interrupted":
        return {}
    return {"signal": stop.name, **({"note": summary["note"]} if "note" in summary else {})}
