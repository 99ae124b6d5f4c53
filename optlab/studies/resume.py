"""What a study's ``--resume`` does with each of its trials, decided from the files alone.

A trial directory is, on the driver's disk (optlab.record.rundir.run_status):

- missing (never started, or started on a cluster worker that did not send it back): start it;
- ``completed`` / ``diverged``: finished, keep it as it is;
- ``interrupted`` or ``died`` (a killed driver's pool worker: "running" with its pid gone) with a
  checkpoint: continue it from the checkpoint (optlab.training.run.resume), whose files then
  equal those of a trial never stopped (but for wall times);
- the same without a checkpoint, or ``failed``: start it again from nothing (same config and
  seed: the same numbers), after removing what is there;
- ``running`` with a live process: another optlab is still running the study; refuse.

A fresh study goes through the same path with every trial missing, so a resumed study and one
never stopped are built by the same code.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from optlab.config.loading import ConfigError, Problem
from optlab.config.schema import Config
from optlab.record.contained import Outside, check_manifest, inside
from optlab.record.guard import Busy, WriterLock
from optlab.record.rundir import RunDir
from optlab.record.status import run_status
from optlab.studies.trials import Outcome, Trial
from optlab.training.checkpoint import NAME as CHECKPOINT

FINISHED = ("completed", "diverged")


class StudyBusy(Exception):
    """A trial of the study, or the study itself, is being run by another process."""


@contextmanager
def study_lock(path: Path) -> Iterator[WriterLock]:
    """Hold the study directory's writer lock (``<study>/.lock``, optlab.record.guard) for the life
    of a comparison or sweep: a second driver of the same study (two ``--resume``) is refused at
    once with :class:`StudyBusy` naming the holder, before it reads or writes anything. A refusal
    found under the lock (a ConfigError: a manifest naming a path outside, a storage that does not
    match) leaves the directory as it was: the lock file goes if this call created it."""
    lock = WriterLock(Path(path))
    try:
        lock.acquire()
    except Busy as exc:
        raise StudyBusy(f"{exc} (one driver per study)") from None
    try:
        yield lock
    except ConfigError:
        lock.release(discard=True)
        raise
    finally:
        lock.release()


def contained(root: Path, manifest: dict, file: str) -> None:
    """ConfigError (exit 2) when ``file`` (the study's manifest) names a directory outside ``root``
    (optlab.record.contained): checked before a resume touches anything."""
    try:
        check_manifest(root, manifest, file)
    except Outside as exc:
        raise ConfigError([Problem("--resume", file, str(exc))]) from None


def state(path: Path) -> str:
    """``missing``, ``finished``, ``resume`` or ``restart`` (the module docstring)."""
    if not (path / "meta.json").is_file():
        return "restart" if path.exists() else "missing"
    status = run_status(path)
    if status in FINISHED:
        return "finished"
    if status == "running":
        meta = RunDir(path).read_json("meta.json")
        raise StudyBusy(f"{path}: still running (pid {meta.get('pid')} on {meta.get('host')}); "
                        "stop that optlab first, or wait for it")
    if status in ("interrupted", "died") and (path / CHECKPOINT).is_file():
        return "resume"
    return "restart"


def plan_trials(root: Path, specs: list[tuple[int, str, Config]]) -> tuple[list[Trial], list[Outcome]]:
    """``(group, dir_name, config)`` per trial -> the trials still to run (resumed where they
    can be) and the outcomes of those already finished. Directories to restart are removed here."""
    todo, done = [], []
    for _, name, _ in specs:         # every name first: nothing is removed if one leads outside
        try:
            inside(root, name, "trial directory")
        except Outside as exc:
            raise ConfigError([Problem("--resume", "", str(exc))]) from None
    for group, name, config in specs:
        path = Path(root) / name
        what = state(path)
        if what == "finished":
            done.append(Outcome(len(todo) + len(done), name, run_status(path)))
            continue
        if what == "resume":
            died = run_status(path) == "died"
            if died:   # say so before resuming it (a driver on another host could not tell from the pid)
                RunDir(path).finish("died", note="its study's driver stopped while it ran")
        elif what == "restart":
            if path.is_symlink() or not path.is_dir():
                path.unlink()          # a link is removed, never followed (rmtree refuses links)
            else:
                shutil.rmtree(path)
        todo.append(Trial(len(todo) + len(done), group, config, name, resume=what == "resume"))
    return todo, done
