"""The local executor: trials in a pool of worker processes on this machine (or here, one by one).

Workers are a ``concurrent.futures`` process pool started with ``spawn`` (fresh interpreters:
the parent runs threads — rich's refresh, the progress reader — and a child forked while one of
them holds a lock can hang on it). Each trial runs with one BLAS thread (optlab.training.threads),
so that workers do not fight over cores and a trial computes exactly the same numbers wherever
it runs (docs/conventions.md, "Randomness").

A trial writes its run directory in place, line by line, as ``optlab train`` does. Progress goes
to the driver through a queue handed to the workers when they start (optlab.studies.trial_work
batches it); stop requests through shared memory the workers read after every step: one int for
the study's signal, one byte per trial in the pool for TrialControl.stop.

What runs before the first trial and after the last is serial, and bounds the speed-up of a
study (Amdahl): the pool starts in ~0.2 s (joblib's loky with a manager queue took ~0.55 s), and
``prepare`` lets the caller do its own serial work while the workers run (docs/performance.md).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Callable, Iterator

from optlab.studies.trial_work import STOP_TRIAL, TrialStop, run_trial, wait_for_verdict
from optlab.studies.trials import STOP_POLL_S, Event, Outcome, Trial, TrialControl, default_workers
from optlab.training.interrupt import StopRequest


class LocalExecutor:
    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers

    def slots(self, n_trials: int | None) -> int:
        """Trials at once: the workers, at most one per trial (``None``: as many as will come)."""
        workers = self.workers or default_workers()
        return max(1, workers if n_trials is None else min(workers, n_trials))

    def map(self, trials: list[Trial] | Iterator[Trial], root: Path, *, command: list[str],
            report: Callable[[list[Event]], None], stop: StopRequest, control: TrialControl,
            prepare: Callable[[], None] | None, verdicts: bool = False) -> Iterator[Outcome]:
        slots = self.slots(len(trials) if isinstance(trials, list) else None)
        if slots == 1:   # here, in this process: report() has judged an evaluation when it returns
            yield from _serial(trials, root, command, report, stop, control)
            if prepare is not None and stop.signum is None:
                prepare()
            return
        yield from _parallel(trials, root, slots, command, report, prepare, stop, control, verdicts)


def _serial(trials, root, command, report, stop, control) -> Iterator[Outcome]:
    from threadpoolctl import threadpool_limits

    listed, source = isinstance(trials, list), iter(trials)
    while True:
        if stop.signum is not None and not listed:
            return   # an iterator's next trial is not taken once the study is stopped
        t = next(source, None)
        if t is None:
            return

        def read(index: int = t.index) -> int | None:
            return stop.signum if stop.signum is not None else (STOP_TRIAL if index in control.requested() else None)

        with threadpool_limits(limits=1):   # one thread even where the user set a count, as in a worker
            outcome = run_trial(t.config.model_dump(), str(root), t.dir_name, t.index, command, t.resume, report,
                                TrialStop(read))
        yield outcome


_worker: dict = {}    # in a worker process: its progress queue and shared stop flags (_start_worker)
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


def _start_worker(queue, study_signal, trial_flags, judged=None, parent: int | None = None) -> None:
    """Runs once in each worker process as it starts: ignore Ctrl-C (the driver relays it, so each
    trial stops once, after its step), keep the queue and the shared stop flags, one BLAS thread
    even where the user set a count (the workers already fill the cores), and exit if the parent
    dies (:func:`_exit_when_orphaned`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if parent is not None:
        _exit_when_orphaned(parent)
    _worker.update(queue=queue, signal=study_signal, flags=trial_flags, judged=judged)
    import numpy  # noqa: F401  (threadpoolctl limits the libraries loaded so far)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _run_in_worker(config: dict, root: str, dir_name: str, index: int, position: int, command: list[str],
                   resume: bool) -> Outcome:
    shared, flags, queue, judged = _worker["signal"], _worker["flags"], _worker["queue"], _worker["judged"]

    def read() -> int | None:
        return shared.value or (STOP_TRIAL if flags[position] else None)

    stop = TrialStop(read)
    verdict = None if judged is None else (lambda step: wait_for_verdict(lambda: judged[position], step, stop))
    return run_trial(config, root, dir_name, index, command, resume, queue.put, stop, verdict)


def _parallel(trials: list[Trial] | Iterator[Trial], root: Path, workers: int, command: list[str], report, prepare,
              stop: StopRequest, control: TrialControl, verdicts: bool = False) -> Iterator[Outcome]:
    """Yield outcomes as trials finish, draining the workers' progress queue on a thread and
    relaying stop requests to the workers. A list is handed to the pool at once (one stop flag
    each); an iterator ``workers`` trials at a time, the next when one ends (its flag reused).
    ``verdicts``: the reader thread, once ``report`` has judged an evaluation, raises the trial's
    stop flag if it was condemned and then writes the evaluation's step into the trial's shared
    ``judged`` slot, which the waiting worker reads (optlab.studies.trial_work.wait_for_verdict)."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")    # module docstring: no fork
    # SimpleQueue: a put is in the pipe when it returns (Queue hands it to a feeder thread), so a
    # trial's last events arrive before its outcome, and before the None that ends the reader
    queue, study_signal = context.SimpleQueue(), context.RawValue("i", 0)
    listed = isinstance(trials, list)
    source = iter(trials)
    trial_flags = context.RawArray("b", len(trials) if listed else workers)
    judged = context.RawArray("q", len(trial_flags)) if verdicts else None   # per stop-flag position
    slots_lock = threading.Lock()   # position and the flags: the reader thread writes them too
    free = list(range(len(trial_flags)))[::-1]    # stop-flag positions not in use (popped from the end)
    position: dict[int, int] = {}                 # trial index -> its stop flag, while it is in the pool

    def drain() -> None:
        while True:
            try:
                item = queue.get()
            except (EOFError, OSError, ValueError):   # the queue is closing
                return
            if item is None:                          # put by the finally below: no more reports
                return
            report(item)
            if judged is not None:
                answer(item)

    def answer(events: list[Event]) -> None:
        """The verdicts on the evaluations in ``events``: a stop flag first, then the step judged."""
        requested = control.requested()
        with slots_lock:
            for e in events:
                slot = position.get(e.index)
                if e.row is None or slot is None:
                    continue
                if e.index in requested:
                    trial_flags[slot] = 1
                judged[slot] = max(judged[slot], e.step)

    reader = threading.Thread(target=drain, daemon=True)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                               initargs=(queue, study_signal, trial_flags, judged, os.getpid()))
    finished = broken = False
    trial_of: dict = {}                           # future -> its trial, while it is in the pool

    def submit_next() -> bool:
        t = next(source, None)
        if t is None:
            return False
        with slots_lock:
            position[t.index] = slot = free.pop()
            trial_flags[slot] = 0
            if judged is not None:
                judged[slot] = 0
        future = pool.submit(_run_in_worker, t.config.model_dump(), str(root), t.dir_name, t.index, slot, command,
                             t.resume)
        trial_of[future] = t
        return True

    try:
        while free and submit_next():
            pass
        reader.start()
        if prepare is not None:
            prepare()
        while trial_of:
            if stop.signum is not None:
                study_signal.value = stop.signum   # workers stop after their step; queued trials do not start
            with slots_lock:
                for index in control.requested():
                    if index in position:
                        trial_flags[position[index]] = 1
            done, _ = wait(list(trial_of), timeout=STOP_POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                t = trial_of.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:   # a worker was killed; the pool ends every trial it holds
                    broken = True
                    outcome = Outcome(t.index, t.dir_name, "failed",
                                      "a worker process was killed (out of memory? a signal?), which stops every "
                                      "trial of the pool: this one did not finish")
                with slots_lock:
                    free.append(position.pop(t.index))
                yield outcome   # the caller handles it (a tuner tells the study) before the next trial is taken
                if not listed and not broken and stop.signum is None:
                    submit_next()
        finished = True
    except BaseException:
        # a second signal (Abort) or an error here: end the workers now; each run directory
        # still reads as what happened to it (optlab.record.rundir: atomic writes, whole lines)
        study_signal.value = stop.signum or signal.SIGINT
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
