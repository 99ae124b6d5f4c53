"""Running many trials: in worker processes or in this process, with the same results either way.

Workers are a ``concurrent.futures`` process pool started with ``spawn`` (fresh interpreters:
the parent runs threads — rich's refresh, the progress reader — and a child forked while one of
them holds a lock can hang on it). Each worker limits its math library to one thread, and so does
a serial run (optlab.training.threads), so that workers do not fight over cores and a trial computes
exactly the same numbers wherever it runs (docs/conventions.md, "Randomness": identical metrics alone,
in a comparison or in a parallel worker).

A trial is one call of :func:`optlab.training.run.run` into ``<root>/<dir_name>``: its run
directory is exactly what ``optlab train`` writes. A trial may carry a ``watch`` (a picklable
object with ``wrap(stop) -> StopRequest``): where the trial runs, it wraps the trial's stop
request, sees each evaluation row and may stop the trial (a sweep's pruner, optlab.studies.tune). Progress goes to one display in the parent:
workers send ``(trial, fraction done)`` through a queue handed to them when they start, a few
times a second at most.

What runs before the first trial and after the last is serial, and bounds the speed-up of a
comparison (Amdahl): the pool starts in ~0.2 s (joblib's loky with a manager queue took ~0.55 s),
and ``prepare`` lets the caller do its own serial work — a comparison imports matplotlib for its
plots — while the workers run (docs/performance.md).
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

from optlab.config.schema import Config
from optlab.training.interrupt import Stopped, StopRequest, graceful_stop

REPORT_EVERY_S = 0.2   # a worker reports a trial's progress at most this often
STOP_POLL_S = 0.2      # how often the parent looks for a stop request while workers run


class Progress(Protocol):
    """Where trials report: groups of trials (a variant, its tuning), each trial's fraction done."""

    def add_group(self, label: str, trials: int) -> int: ...

    def update(self, group: int, trial: int, fraction: float) -> None: ...


class NullProgress:
    """Progress that shows nothing (library use, tests)."""

    def add_group(self, label: str, trials: int) -> int:
        return 0

    def update(self, group: int, trial: int, fraction: float) -> None:
        pass


@dataclass(frozen=True)
class Trial:
    index: int        # unique within one run_trials call
    group: int        # the progress group it counts towards
    config: Config
    dir_name: str     # run directory, relative to the comparison's directory
    watch: object | None = None   # wraps the trial's StopRequest where it runs (module docstring)


@dataclass(frozen=True)
class Outcome:
    index: int
    dir_name: str
    status: str              # completed | diverged | failed | interrupted | pruned | not started
    error: str | None = None


@contextmanager
def reported(rd, name: str, manifest: dict, render: Callable[..., None]) -> Iterator[None]:
    """Around the trials of a comparison or sweep whose manifest is ``name`` (compare.json,
    sweep.json) in run directory ``rd``: when the block ends, the manifest says ``completed`` and
    ``render(path)`` writes the report; on Ctrl-C (a KeyboardInterrupt: Stopped, Abort) it says
    ``interrupted``, the report is drawn from whatever trials exist (best effort), and the
    interrupt goes on up. Any other error leaves the manifest as it was (``running``)."""
    try:
        yield
    except KeyboardInterrupt:
        manifest["status"] = "interrupted"
        rd.write_json(name, manifest)
        render(rd.path, quiet=True)
        raise
    manifest["status"] = "completed"
    rd.write_json(name, manifest)
    render(rd.path)


def default_workers() -> int:
    """The number of cores this process may use (joblib reads cgroup and affinity limits)."""
    from joblib import cpu_count

    return max(1, cpu_count())


def _run_one(config: dict, root: str, dir_name: str, index: int, command: list[str], report,
             stop: StopRequest, watch=None) -> Outcome:
    """One trial, in a worker or here. ``report(index, fraction)`` is throttled by the caller;
    ``stop``: polled after each step (optlab.training.interrupt)."""
    from optlab.training.run import run

    last = [0.0]

    def on_step(step: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            report(index, step / total)

    if stop.signum is not None:
        return Outcome(index, dir_name, "not started")
    if watch is not None:
        stop = watch.wrap(stop)
    try:
        where = Path(root) / dir_name     # e.g. <compare dir>/trials/sgd-s0
        result = run(Config.model_validate(config), where.parent, on_step=on_step, command=command,
                     dir_name=where.name, stop=stop)
        return Outcome(index, dir_name, result.status)
    except Exception as exc:   # the run directory says 'failed' with the error; the others go on
        return Outcome(index, dir_name, "failed", f"{type(exc).__name__}: {exc}")


class _StopFromParent(StopRequest):
    """A worker's stop request: the signal the parent received, shared with every worker (0:
    none yet). The terminal's Ctrl-C reaches the whole process group; workers ignore it and the
    parent, which handles it, asks each worker once (optlab.training.interrupt), so every trial finishes
    its step, checkpoints and records which signal stopped it."""

    def __init__(self, shared) -> None:
        self._shared = shared           # a multiprocessing RawValue("i"): one int, read each step
        super().__init__()

    @property
    def signum(self) -> int | None:
        return self._shared.value or None

    @signum.setter
    def signum(self, value: int | None) -> None:   # StopRequest.__init__ and request()
        if value is not None:
            self._shared.value = int(value)


_worker: dict = {}    # in a worker process: its progress queue and stop request (_start_worker)


def _start_worker(queue, stop_signal) -> None:
    """Runs once in each worker process as it starts: ignore Ctrl-C (the parent relays it), keep
    the queue and the shared stop signal, one BLAS thread even where the user set a count (the
    workers already fill the cores)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(queue=queue, stop=_StopFromParent(stop_signal))
    import numpy  # noqa: F401  (threadpoolctl limits the libraries loaded so far)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _run_in_worker(config: dict, root: str, dir_name: str, index: int, command: list[str], watch=None) -> Outcome:
    queue = _worker["queue"]
    return _run_one(config, root, dir_name, index, command, lambda i, f: queue.put((i, f)), _worker["stop"], watch)


def run_trials(trials: list[Trial], root: Path, *, workers: int | None = None, progress: Progress,
               command: list[str], prepare: Callable[[], None] | None = None) -> list[Outcome]:
    """Run ``trials`` into run directories under ``root``; outcomes in the order of ``trials``.

    ``workers`` (default: the number of cores, at most one per trial) processes; 1 runs them here,
    one after another. A trial that raises is recorded as failed and the others go on.
    ``prepare``: called here once the workers have their trials (with one worker: after the last
    trial), for work the caller needs afterwards anyway.

    Ctrl-C or SIGTERM: every running trial finishes its step, checkpoints and is marked
    interrupted (``optlab train --resume`` continues it), no other trial starts, then
    :class:`optlab.training.interrupt.Stopped` is raised; a second signal stops at once (Abort).
    """
    from threadpoolctl import threadpool_limits

    workers = min(workers or default_workers(), len(trials)) or 1
    group_of = {t.index: t.group for t in trials}

    def report(index: int, fraction: float) -> None:
        progress.update(group_of[index], index, fraction)

    outcomes: dict[int, Outcome] = {}
    with graceful_stop() as stop:
        if workers == 1:
            with threadpool_limits(limits=1):
                for t in trials:
                    outcomes[t.index] = _run_one(t.config.model_dump(), str(root), t.dir_name, t.index, command,
                                                 report, stop, t.watch)
                    report(t.index, 1.0)
            if prepare is not None and stop.signum is None:
                prepare()
        else:
            for outcome in _parallel(trials, root, workers, command, report, prepare, stop):
                outcomes[outcome.index] = outcome
                report(outcome.index, 1.0)
    if stop.signum is not None:
        raise Stopped(stop.signum)
    return [outcomes[t.index] for t in trials]


def _parallel(trials: list[Trial], root: Path, workers: int, command: list[str], report,
              prepare: Callable[[], None] | None, stop: StopRequest):
    """Yield outcomes as trials finish, draining the workers' progress queue on a thread and
    relaying a stop request to the workers."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")    # module docstring: no fork
    queue, stop_signal = context.Queue(), context.RawValue("i", 0)

    def drain() -> None:
        while True:
            try:
                item = queue.get()
            except (EOFError, OSError, ValueError):   # the queue is closing
                return
            if item is None:                          # put by the finally below: no more reports
                return
            report(*item)

    reader = threading.Thread(target=drain, daemon=True)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(queue, stop_signal))
    finished = False
    try:
        trial_of = {pool.submit(_run_in_worker, t.config.model_dump(), str(root), t.dir_name, t.index, command,
                                t.watch): t
                    for t in trials}
        reader.start()
        if prepare is not None:
            prepare()
        pending = set(trial_of)
        while pending:
            if stop.signum is not None:
                stop_signal.value = stop.signum   # workers stop after their step; queued trials do not start
            done, pending = wait(pending, timeout=STOP_POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    yield future.result()
                except BrokenProcessPool:   # a worker was killed; the pool ends every trial it holds
                    t = trial_of[future]
                    yield Outcome(t.index, t.dir_name, "failed",
                                  "a worker process was killed (out of memory? a signal?), which stops every "
                                  "trial of the pool: this one did not finish")
        finished = True
    except BaseException:
        # a second signal (Abort) or an error here: end the workers now; each run directory
        # still reads as what happened to it (optlab.record.rundir: atomic writes, whole lines)
        stop_signal.value = stop.signum or signal.SIGINT
        pool.shutdown(wait=False, cancel_futures=True)
        for child in multiprocessing.active_children():
            child.terminate()
        raise
    finally:
        # after the last trial the workers exit (~0.3 s: their interpreters finalise) while the
        # caller draws its report, instead of before
        pool.shutdown(wait=not finished, cancel_futures=True)
        queue.put(None)
        if reader.is_alive():
            reader.join()
        queue.close()
