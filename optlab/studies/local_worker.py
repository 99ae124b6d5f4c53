"""What a local pool's worker process does (optlab.studies.local_pool starts them): set itself up
once as it starts, then run each trial it is handed with the shared stop flags of its position.

A worker is a fresh (spawned) interpreter. :func:`start_worker` runs first: it ignores Ctrl-C
(the driver relays it), keeps the progress queue and the shared memory, limits BLAS to one
thread, watches for its parent's death, and imports what a trial runs, once for every trial the
worker will take. :func:`run_in_worker` is one trial (optlab.studies.trial_work.run_trial) whose
stop request reads the study's signal and the trial's flag, and whose verdicts (a pruner's) are
waited for in the ``judged`` position the driver writes.
"""

from __future__ import annotations

import signal
import threading

from optlab.studies.trial_work import STOP_TRIAL, TrialStop, run_trial, wait_for_verdict
from optlab.studies.trials import Outcome

_worker: dict = {}    # in a worker process: its progress queue and shared stop flags (start_worker)
ORPHAN_POLL_S = 1.0   # how often a worker checks that its parent is alive


def _exit_when_orphaned(parent: int, poll: float = ORPHAN_POLL_S) -> None:
    """In a worker: exit as soon as the parent that started it is gone (a SIGKILL of
    ``optlab compare`` cannot tell its workers). The kernel then gives the worker a new parent,
    so ``os.getppid()`` changes; a trial running here stays ``running`` in its meta.json with a
    dead pid, which reads as ``died`` and resumes from its last checkpoint."""
    import os
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(70)   # EX_SOFTWARE; no cleanup: nothing is left to report to

    threading.Thread(target=watch, name="optlab-orphan-watch", daemon=True).start()


def start_worker(queue, study_signal, trial_flags, judged, parent: int | None = None) -> None:
    """Runs once in each worker process as it starts: ignore Ctrl-C (the driver relays it, so each
    trial stops once, after its step), keep the queue and the shared stop flags, one BLAS thread
    even where the user set a count (the workers already fill the cores), exit if the parent
    dies (:func:`_exit_when_orphaned`), and import what a trial runs, once for every trial the
    worker will take."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_when_orphaned(parent)
    _worker.update(queue=queue, signal=study_signal, flags=trial_flags, judged=judged)
    import numpy  # noqa: F401  (threadpoolctl limits the libraries loaded so far)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    import gc

    import optlab.training.run  # noqa: F401

    gc.freeze()   # what the imports made is never garbage: no collection walks it again, nor the exit


def run_in_worker(config: dict, root: str, dir_name: str, index: int, position: int, command: list[str],
                   resume: bool, verdicts: bool = False) -> Outcome:
    shared, flags, queue, judged = _worker["signal"], _worker["flags"], _worker["queue"], _worker["judged"]

    def read() -> int | None:
        return shared.value or (STOP_TRIAL if flags[position] else None)

    stop = TrialStop(read)
    verdict = (lambda step: wait_for_verdict(lambda: judged[position], step, stop)) if verdicts else None
    return run_trial(config, root, dir_name, index, command, resume, queue.put, stop, verdict)
