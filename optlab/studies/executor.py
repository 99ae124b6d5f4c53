"""Running a study's trials, here or on a cluster, with the same results wherever they run.

The interface (compare, sweep and tuners built on them use only this)::

    with open_executor(ExecutorSpec("dask", scheduler="tcp://HOST:8786")) as executor:
        outcomes = run_trials(trials, study_dir, executor=executor, progress=progress,
                              command=sys.argv, on_event=on_event, control=control)

:func:`stream_trials` takes the same arguments and yields each outcome as its trial ends; given an
iterator of trials instead of a list, it takes the next one only when a slot is free (what
``optlab sweep --async`` asks the study through: optlab.studies.tune_drive).

- :class:`Trial` ``(index, group, config, dir_name, resume=False)``: one run directory
  ``<study_dir>/<dir_name>``, exactly what ``optlab train`` writes (figures aside: a study draws
  its trials' figures after its own, optlab.record.trial_reports). ``resume=True`` continues the
  directory already there from its checkpoint (optlab.training.run.resume).
- :class:`Outcome` ``(index, dir_name, status, error)``, one per trial, in the order given; status
  ``completed | diverged | failed | interrupted | stopped | not started``. A trial that raises is
  ``failed`` with its message and the others go on.
- :class:`Event` ``(index, step, total, row)``, reported by the trial's worker and delivered on
  the driver to ``on_event`` (from a reader thread; an evaluation as soon as it is made, progress
  at most every REPORT_EVERY_S seconds per trial): ``row`` is None for progress, else an
  evaluation's metrics row (``step``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``,
  ...), what a pruner needs. Keep it short (on Dask it runs on the client's event loop); it may
  call ``control.stop``; given one, each trial waits after an evaluation until it has been
  judged, so a stop it asks for lands at that evaluation's step. The local pool delivers a trial's last events before its outcome; on
  Dask they may come after it or, once run_trials has returned, not at all (the trial's
  metrics.csv holds every row).
- :class:`TrialControl` ``.stop(index)``: the driver asks one trial to stop after its current
  step; it writes a checkpoint and ends ``stopped`` (meta.json: interrupted, signal ``stop_trial``).
- Ctrl-C or SIGTERM on the driver: every running trial finishes its step, checkpoints and is
  marked interrupted, no other starts, then :class:`~optlab.training.interrupt.Stopped` is raised
  (a second signal: Abort, at once). The study's ``--resume`` continues from there.
- Errors: :class:`ExecutorError` (bad input, found before any trial starts: CLI exit 2),
  :class:`ClusterLost` (the cluster went away mid-study: exit 1; finished trials are on disk).

Backends (:class:`ExecutorSpec` ``kind``): ``local``, a spawn process pool on this machine
(optlab.studies.local_pool, the default), and ``dask``, a dask.distributed cluster
(optlab.studies.dask_pool): its workers train in scratch directories and send the finished run
directories back, which the driver writes into the study atomically. Either way every trial runs
with one BLAS thread (optlab.training.threads), so a trial computes exactly the same numbers in a
pool, on a cluster or alone (docs/conventions.md, "Randomness"; docs/distributed.md).
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Protocol

from optlab.studies.trials import (  # noqa: F401  (the interface: re-exported)
    KINDS,
    REPORT_EVERY_S,
    STOP_POLL_S,
    ClusterLost,
    Event,
    ExecutorError,
    ExecutorSpec,
    NullProgress,
    Outcome,
    Progress,
    Trial,
    TrialControl,
    default_workers,
)
from optlab.training.interrupt import Stopped, StopRequest, graceful_stop


class Executor(Protocol):
    """An open backend. ``map`` yields outcomes as trials finish; ``report(events)`` takes a batch
    of :class:`Event`; ``stop`` (the study's signal) and ``control`` are read while it runs.

    ``trials`` is a list (every trial handed over at once; each gets an outcome) or an iterator,
    from which the backend takes the next trial only when one of its slots is free, after the
    caller has seen the outcome that freed it, and none once the study is asked to stop (a tuner
    asks Optuna for a trial as late as that: optlab.studies.tune_drive).

    ``verdicts``: a trial waits after each evaluation until ``report`` has returned for it and any
    stop it asked for has reached the trial (optlab.studies.trial_work.wait_for_verdict)."""

    kind: str

    def slots(self, n_trials: int | None) -> int: ...

    def map(self, trials: list[Trial] | Iterator[Trial], root: Path, *, command: list[str],
            report: Callable[[list[Event]], None], stop: StopRequest, control: TrialControl,
            prepare: Callable[[], None] | None, verdicts: bool = False) -> Iterator[Outcome]: ...


@contextmanager
def open_executor(spec: ExecutorSpec | None = None) -> Iterator[Executor]:
    """Start (or connect to) the backend ``spec`` names; ExecutorError before any trial if it cannot be used.
    Open it once per study: every ``run_trials`` / ``stream_trials`` of the block shares its workers
    (a local pool's processes and their imports, a Dask client and cluster), ended when the block ends."""
    spec = spec or ExecutorSpec()
    if spec.kind == "local":
        from optlab.studies.local_pool import LocalExecutor

        local = LocalExecutor(spec.workers)
        try:
            yield local   # one pool of workers for every trial of the block, started at the first
        finally:
            local.close()
        return
    if spec.kind != "dask":
        raise ExecutorError(f"--executor: one of {', '.join(KINDS)}; got {spec.kind!r}")
    from optlab.studies.dask_pool import connect

    with connect(spec.scheduler or os.environ.get("OPTLAB_SCHEDULER") or None, spec.workers) as executor:
        yield executor


@contextmanager
def reported(rd, name: str, manifest: dict, render: Callable[..., None]) -> Iterator[None]:
    """Around the trials of a comparison or sweep whose manifest is ``name`` (compare.json,
    sweep.json) in run directory ``rd``: when the block ends, the manifest says ``completed`` and
    ``render(path)`` writes the report; on Ctrl-C (a KeyboardInterrupt: Stopped, Abort) it says
    ``interrupted``, the report is drawn from whatever trials exist (best effort), and the
    interrupt goes on up. A lost cluster says ``interrupted`` too (``--resume`` continues); any
    other error leaves the manifest as it was (``running``, which reads as died). Whatever ends
    the block early carries the study's directory up as ``study_dir``, for the command line to
    say where the study is and how to resume it."""
    try:
        try:
            yield
        except (KeyboardInterrupt, ClusterLost) as exc:
            manifest["status"] = "interrupted"
            rd.write_json(name, manifest)
            render(rd.path, quiet=True)
            if isinstance(exc, ClusterLost):
                raise ClusterLost(f"{exc}. Every trial that finished is in {rd.path}; "
                                  f"--resume {rd.path} runs the rest") from None
            raise
    except BaseException as exc:
        exc.study_dir = rd.path
        raise
    if manifest.get("status") == "running":   # the block may have said otherwise ("failed")
        manifest["status"] = "completed"
    rd.write_json(name, manifest)
    render(rd.path)


def run_trials(trials: list[Trial], root: Path, *, executor: Executor | None = None, workers: int | None = None,
               progress: Progress, command: list[str], prepare: Callable[[], None] | None = None,
               on_event: Callable[[Event], None] | None = None,
               control: TrialControl | None = None) -> list[Outcome]:
    """Run ``trials`` into run directories under ``root``; outcomes in the order of ``trials``.

    ``executor``: an open backend (:func:`open_executor`); default a local pool of ``workers``
    processes (default: the cores, at most one per trial; 1 runs them here, one after another).
    ``prepare``: called here once the workers have their trials, for work the caller needs
    afterwards anyway (a comparison imports matplotlib). See the module docstring for the rest.
    """
    outcomes = {o.index: o for o in stream_trials(list(trials), root, executor=executor, workers=workers,
                                                  progress=progress, command=command, prepare=prepare,
                                                  on_event=on_event, control=control)}
    return [outcomes[t.index] for t in trials]


def stream_trials(trials: list[Trial] | Iterator[Trial], root: Path, *, executor: Executor | None = None,
                  workers: int | None = None, progress: Progress, command: list[str],
                  prepare: Callable[[], None] | None = None, on_event: Callable[[Event], None] | None = None,
                  control: TrialControl | None = None) -> Iterator[Outcome]:
    """:func:`run_trials`, yielding each outcome as its trial ends. From an iterator of trials the
    next one is taken only when a slot is free, after the caller has handled the outcome that freed
    it (:class:`Executor`); Ctrl-C takes no more, lets the running ones checkpoint, and raises
    Stopped once the last has ended."""
    control = control or TrialControl()
    group_of: dict[int, int] = {}
    lock = threading.Lock()

    def noted(source):
        for t in source:
            group_of[t.index] = t.group
            yield t

    trials = list(noted(trials)) if isinstance(trials, list) else noted(trials)

    errors: list[Exception] = []

    def report(events: list[Event]) -> None:
        with lock:   # reader threads of a backend may call at once
            for event in events:
                try:
                    if event.total:
                        progress.update(group_of[event.index], event.index, event.fraction)
                    if on_event is not None and not errors:
                        on_event(event)
                except Exception as exc:   # raised here once the trials end: a reader thread that died
                    errors.append(exc)     # would stop draining, and workers block on a full pipe

    with graceful_stop() as stop:
        with (open_executor(ExecutorSpec("local", workers)) if executor is None else _as_is(executor)) as ex:
            for outcome in ex.map(trials, Path(root), command=list(command), report=report, stop=stop,
                                  control=control, prepare=prepare, verdicts=on_event is not None):
                progress.update(group_of[outcome.index], outcome.index, 1.0)
                yield outcome
    if stop.signum is not None:
        raise Stopped(stop.signum)
    if errors:
        raise errors[0]


@contextmanager
def _as_is(executor: Executor) -> Iterator[Executor]:
    yield executor
