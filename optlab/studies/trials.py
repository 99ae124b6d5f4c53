"""The words of optlab.studies.executor's interface (see its docstring): trials, their outcomes
and events, per-trial stop requests, the executor's errors. Apart from executor.py so that the
backends (local_pool, dask_pool) and what runs in a worker (trial_work) import them without
importing the module that picks a backend.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from optlab.config.schema import Config

REPORT_EVERY_S = 0.2   # a worker sends a trial's events at most this often
STOP_POLL_S = 0.2      # how often the driver looks for a stop request while workers run
KINDS = ("local", "dask")


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
    dir_name: str     # run directory, relative to the study's directory
    resume: bool = False   # continue the directory already there from its checkpoint


@dataclass(frozen=True)
class Outcome:
    index: int
    dir_name: str
    status: str              # completed | diverged | failed | interrupted | stopped | not started
    error: str | None = None


@dataclass(frozen=True)
class Event:
    index: int               # the trial's
    step: int
    total: int               # the trial's steps (0: not known yet)
    row: dict | None = None  # None: progress; else an evaluation's metrics row

    @property
    def fraction(self) -> float:
        return self.step / self.total if self.total else 0.0


class TrialControl:
    """The driver's per-trial stop requests (thread-safe; read by the executor while it runs)."""

    def __init__(self) -> None:
        self._stopped: set[int] = set()
        self._lock = threading.Lock()

    def stop(self, index: int) -> None:
        """Ask trial ``index`` to stop after its current step (it checkpoints; outcome ``stopped``)."""
        with self._lock:
            self._stopped.add(index)

    def requested(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._stopped)


class ExecutorError(Exception):
    """The executor cannot be used (no extra installed, no scheduler, mismatched workers): bad input."""


class ClusterLost(RuntimeError):
    """The cluster went away while trials ran; what finished is on disk."""


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"             # local | dask
    workers: int | None = None      # local: processes (default: cores); dask without a scheduler: LocalCluster workers
    scheduler: str | None = None    # dask: tcp://HOST:8786 (default $OPTLAB_SCHEDULER, else a LocalCluster)


def default_workers() -> int:
    """The number of cores this process may use (joblib reads cgroup and affinity limits)."""
    from joblib import cpu_count

    return max(1, cpu_count())
