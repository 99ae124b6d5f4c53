"""Running many trials: in worker processes (joblib's loky backend) or in this process, with the
same results either way.

Each worker runs with its math library limited to one thread (loky's
``inner_max_num_threads=1``), and so does a serial run (threadpoolctl), so that workers do not
fight over cores and a trial computes exactly the same numbers wherever it runs (conventions.md,
"Randomness": identical metrics alone, in a comparison or in a parallel worker).

A trial is one call of :func:`optlab.experiment.run` into ``<root>/<dir_name>``: its run
directory is exactly what ``optlab train`` writes. Progress goes to one display in the parent:
workers send ``(trial, fraction done)`` through a manager queue, a few times a second at most.
"""

from __future__ import annotations

import queue as queue_module
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from optlab.schema import Config

REPORT_EVERY_S = 0.2   # a worker reports a trial's progress at most this often


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


def _run_in_worker(config: dict, root: str, dir_name: str, index: int, command: list[str], queue) -> Outcome:
    return _run_one(config, root, dir_name, index, command, lambda i, f: queue.put((i, f)))


def run_trials(trials: list[Trial], root: Path, *, workers: int | None = None, progress: Progress,
               command: list[str]) -> list[Outcome]:
    """Run ``trials`` into run directories under ``root``; outcomes in the order of ``trials``.

    ``workers`` (default: the number of cores, at most one per trial) processes; 1 runs them here,
    one after another. A trial that raises is recorded as failed and the others go on; Ctrl-C
    stops them all.
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
    else:
        for outcome in _parallel(trials, root, workers, command, report):
            outcomes[outcome.index] = outcome
            report(outcome.index, 1.0)
    return [outcomes[t.index] for t in trials]


def _parallel(trials: list[Trial], root: Path, workers: int, command: list[str], report):
    """Yield outcomes as trials finish, draining the workers' progress queue on a thread."""
    import multiprocessing

    from joblib import Parallel, delayed, parallel_config

    # spawn, not fork: the parent runs threads (rich's refresh, our reader), and a child forked
    # while one of them holds a lock can hang on it.
    with multiprocessing.get_context("spawn").Manager() as manager:
        queue = manager.Queue()
        stop = threading.Event()

        def drain() -> None:
            while not stop.is_set():
                try:
                    report(*queue.get(timeout=0.1))
                except queue_module.Empty:
                    continue
                except (EOFError, OSError, BrokenPipeError):   # the manager is shutting down
                    return

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        try:
            with parallel_config(backend="loky", inner_max_num_threads=1):
                jobs = Parallel(n_jobs=workers, return_as="generator_unordered", batch_size=1, pre_dispatch="all")
                yield from jobs(delayed(_run_in_worker)(t.config.model_dump(), str(root), t.dir_name, t.index,
                                                        command, queue) for t in trials)
        finally:
            stop.set()
            reader.join()
