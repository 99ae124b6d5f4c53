"""Running many trials: in worker processes or in this process, with the same results either way.

Workers are a ``concurrent.futures`` process pool started with ``spawn`` (fresh interpreters:
the parent runs threads — rich's refresh, the progress reader — and a child forked while one of
them holds a lock can hang on it). Each worker limits its math library to one thread, and so does
a serial run (optlab.threads), so that workers do not fight over cores and a trial computes
exactly the same numbers wherever it runs (conventions.md, "Randomness": identical metrics alone,
in a comparison or in a parallel worker).

A trial is one call of :func:`optlab.experiment.run` into ``<root>/<dir_name>``: its run
directory is exactly what ``optlab train`` writes. Progress goes to one display in the parent:
workers send ``(trial, fraction done)`` through a queue handed to them when they start, a few
times a second at most.

What runs before the first trial and after the last is serial, and bounds the speed-up of a
comparison (Amdahl): the pool starts in ~0.2 s (joblib's loky with a manager queue took ~0.55 s),
and ``prepare`` lets the caller do its own serial work — a comparison imports matplotlib for its
plots — while the workers run (docs/performance.md).
"""

from __future__ import annotations

import queue as queue_module
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from optlab.schema import Config

REPORT_EVERY_S = 0.2   # a worker reports a trial's progress at most this often
STOP_GRACE_S = 10.0    # after Ctrl-C, how long workers get to record their interrupted trials


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


@dataclass(frozen=True)
class Outcome:
    index: int
    dir_name: str
    status: str              # completed | diverged | failed
    error: str | None = None


def default_workers() -> int:
    """The number of cores this process may use (joblib reads cgroup and affinity limits)."""
    from joblib import cpu_count

    return max(1, cpu_count())


def _run_one(config: dict, root: str, dir_name: str, index: int, command: list[str], report) -> Outcome:
    """One trial, in a worker or here. ``report(index, fraction)`` is throttled by the caller."""
    from optlab.experiment import run

    last = [0.0]

    def on_step(step: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY_S:
            last[0] = now
            report(index, step / total)

    try:
        where = Path(root) / dir_name     # e.g. <compare dir>/trials/sgd-s0
        result = run(Config.model_validate(config), where.parent, on_step=on_step, command=command,
                     dir_name=where.name)
        return Outcome(index, dir_name, result.status)
    except Exception as exc:   # the run directory says 'failed' with the error; the others go on
        return Outcome(index, dir_name, "failed", f"{type(exc).__name__}: {exc}")


_worker_queue = None    # in a worker process: where it reports progress (set by _start_worker)


def _start_worker(queue) -> None:
    """Runs once in each worker process as it starts: keep the progress queue, one BLAS thread
    even where the user set a count (workers already fill the cores)."""
    global _worker_queue
    _worker_queue = queue
    import numpy  # noqa: F401  (threadpoolctl limits the libraries loaded so far)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _run_in_worker(config: dict, root: str, dir_name: str, index: int, command: list[str]) -> Outcome:
    return _run_one(config, root, dir_name, index, command, lambda i, f: _worker_queue.put((i, f)))


def run_trials(trials: list[Trial], root: Path, *, workers: int | None = None, progress: Progress,
               command: list[str], prepare: Callable[[], None] | None = None) -> list[Outcome]:
    """Run ``trials`` into run directories under ``root``; outcomes in the order of ``trials``.

    ``workers`` (default: the number of cores, at most one per trial) processes; 1 runs them here,
    one after another. A trial that raises is recorded as failed and the others go on; Ctrl-C
    stops them all. ``prepare``: called here once the workers have their trials (with one
    worker: after the last trial), for work the caller needs afterwards anyway.
    """
    from threadpoolctl import threadpool_limits

    workers = min(workers or default_workers(), len(trials)) or 1
    group_of = {t.index: t.group for t in trials}

    def report(index: int, fraction: float) -> None:
        progress.update(group_of[index], index, fraction)

    outcomes: dict[int, Outcome] = {}
    if workers == 1:
        with threadpool_limits(limits=1):
            for t in trials:
                outcomes[t.index] = _run_one(t.config.model_dump(), str(root), t.dir_name, t.index, command, report)
                report(t.index, 1.0)
        if prepare is not None:
            prepare()
    else:
        for outcome in _parallel(trials, root, workers, command, report, prepare):
            outcomes[outcome.index] = outcome
            report(outcome.index, 1.0)
    return [outcomes[t.index] for t in trials]


def _parallel(trials: list[Trial], root: Path, workers: int, command: list[str], report,
              prepare: Callable[[], None] | None):
    """Yield outcomes as trials finish, draining the workers' progress queue on a thread."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")    # module docstring: no fork
    queue = context.Queue()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            try:
                report(*queue.get(timeout=0.1))
            except queue_module.Empty:
                continue
            except (EOFError, OSError, ValueError):   # the queue is closing
                return

    reader = threading.Thread(target=drain, daemon=True)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(queue,))
    try:
        trial_of = {pool.submit(_run_in_worker, t.config.model_dump(), str(root), t.dir_name, t.index, command): t
                    for t in trials}
        reader.start()
        if prepare is not None:
            prepare()
        pending = set(trial_of)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                try:
                    yield future.result()
                except BrokenProcessPool as exc:   # a worker was killed (out of memory, a signal)
                    t = trial_of[future]
                    yield Outcome(t.index, t.dir_name, "failed", f"its worker process ended abruptly ({exc})")
    except BaseException:
        # Ctrl-C in a terminal reaches the workers too (one process group): each stops its trial
        # after the step in progress and records it. Wait for that, then end any that did not hear it.
        pool.shutdown(wait=False, cancel_futures=True)
        _end_children(STOP_GRACE_S)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        stop.set()
        if reader.is_alive():
            reader.join()
        queue.close()


def _end_children(grace: float) -> None:
    """Wait up to ``grace`` seconds for this process's children to exit, then terminate the rest."""
    import multiprocessing

    deadline = time.monotonic() + grace
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
    for child in multiprocessing.active_children():
        child.terminate()
