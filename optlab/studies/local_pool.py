"""The local executor: trials in a pool of worker processes on this machine (or here, one by one).

One pool per study: :class:`LocalExecutor` starts its :class:`WorkerPool` at the first trial that
needs one and keeps it, with its workers and what they imported, for every later ``map`` of the
same ``open_executor`` block (each wave of a wave-order sweep, a comparison's tuning phase and then
its final trials); it ends when the block does. A pool that lost a worker (BrokenProcessPool) or
was ended at once (a second Ctrl-C, an error) is dropped, and the next ``map`` starts a new one.

Workers are a ``concurrent.futures`` process pool started with ``spawn`` (fresh interpreters:
the parent runs threads — rich's refresh, the progress reader — and a child forked while one of
them holds a lock can hang on it). Each trial runs with one BLAS thread (optlab.training.threads),
so that workers do not fight over cores and a trial computes exactly the same numbers wherever
it runs (docs/conventions.md, "Randomness").

A trial writes its run directory in place, line by line, as ``optlab train`` does (what a worker
does with it: optlab.studies.local_worker). Progress goes to the driver through a queue handed
to the workers when they start (optlab.studies.trial_work batches it); stop requests through shared memory the workers read after every step: one int for
the study's signal (cleared when a ``map`` starts: a stop ends the ``map`` it was asked in), one
byte per position a trial holds while it is in the pool for TrialControl.stop, and beside it the
last evaluation step judged (verdicts); a position is cleared each time a trial takes it.

What runs before the first trial and after the last is serial, and bounds the speed-up of a
study (Amdahl): the workers start (each imports optlab once) while ``prepare`` lets the caller do
its own serial work (docs/performance.md).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Callable, Iterator

from optlab.studies.local_worker import run_in_worker, start_worker
from optlab.studies.trial_work import STOP_TRIAL, TrialStop, run_trial
from optlab.studies.trials import STOP_POLL_S, Event, Outcome, Trial, TrialControl, default_workers
from optlab.training.interrupt import StopRequest

POSITIONS = 64   # trials of a list handed to the pool at most at once (each holds a stop flag); the next as one ends
READER_POLL_S = 0.05   # how soon the reader notices ``ending`` (a pool that lost a worker)
LOST_WORKER = ("a worker process was killed (out of memory? a signal?), which stops every trial of the pool: "
               "this one did not finish")


class LocalExecutor:
    kind = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self.pool: WorkerPool | None = None   # started by the first map that needs workers

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
        if self.pool is not None and self.pool.lost_a_worker():   # while idle, between two maps
            self.close()
        if self.pool is None:
            self.pool = WorkerPool(self.slots(None))
        pool = self.pool
        try:
            yield from Wave(pool, trials, root, slots, command, report, stop, control, verdicts).run(prepare)
        finally:
            if not pool.usable:   # broken, or ended at once: the next map starts a new pool
                pool.close()
                if self.pool is pool:
                    self.pool = None

    def close(self) -> None:
        """End the workers (at once if a trial still runs: a map left unfinished) and free the pool."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None


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


class WorkerPool:
    """``workers`` spawn processes (started as trials come, up to that many) and what they share
    with the driver for as long as they live: the progress queue, the study's stop signal, and per
    position a trial's stop flag and the last evaluation step judged for it."""

    def __init__(self, workers: int) -> None:
        import multiprocessing
        import os
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("spawn")    # module docstring: no fork
        # SimpleQueue: a put is in the pipe when it returns (Queue hands it to a feeder thread), so a
        # trial's last events arrive before its outcome, and before the None that ends the reader
        self.queue, self.signal = context.SimpleQueue(), context.RawValue("i", 0)
        self.positions = max(POSITIONS, workers)
        self.flags = context.RawArray("b", self.positions)
        self.judged = context.RawArray("q", self.positions)
        self.executor = ProcessPoolExecutor(workers, mp_context=context, initializer=start_worker,
                                            initargs=(self.queue, self.signal, self.flags, self.judged, os.getpid()))
        self.usable = True   # False once a worker was lost or the pool was ended at once
        self.busy = False    # a map is handing it trials

    def lost_a_worker(self) -> bool:
        """Whether a worker died (concurrent.futures then refuses every trial: BrokenProcessPool)."""
        return bool(getattr(self.executor, "_broken", False))

    def abort(self, signum: int) -> None:
        """End every worker now (a second signal, an error in the driver); each run directory still
        reads as what happened to it (optlab.record.rundir: atomic writes, whole lines)."""
        import multiprocessing

        self.usable = False
        self.signal.value = signum
        if hasattr(self.executor, "_processes"):   # this pool's own, before shutdown drops them
            workers = list((self.executor._processes or {}).values())
        else:
            workers = multiprocessing.active_children()
        self.executor.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            process.terminate()

    def close(self) -> None:
        """Let the workers exit (they finalise while the caller goes on) and drop the shared memory;
        at once if a map still hands it trials (its caller left it)."""
        self.usable = False
        if self.busy:
            self.abort(signal.SIGINT)   # the map's own ending closes the queue's reader
            return
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.queue.close()


class Wave:
    """One ``map`` on a :class:`WorkerPool`: yield outcomes as trials finish, draining the
    workers' progress queue on a thread and relaying stop requests to the workers. A list is handed
    to the pool at once (up to its positions, then the next as one ends); an iterator ``slots``
    trials at a time, the next when one ends and the caller has handled its outcome.
    ``verdicts``: the reader thread, once ``report`` has judged an evaluation, raises the trial's
    stop flag if it was condemned and then writes the evaluation's step into the trial's
    ``judged`` position, which the waiting worker reads (optlab.studies.trial_work.wait_for_verdict)."""

    def __init__(self, pool: WorkerPool, trials, root: Path, slots: int, command: list[str], report, stop: StopRequest,
                 control: TrialControl, verdicts: bool) -> None:
        self.pool, self.root, self.command, self.report = pool, root, command, report
        self.stop, self.control, self.verdicts = stop, control, verdicts
        self.listed = isinstance(trials, list)
        self.source = iter(trials)
        self.lock = threading.Lock()   # position and the flags: the reader thread writes them too
        width = pool.positions if self.listed else slots
        self.free = list(range(width))[::-1]     # positions not in use (popped from the end)
        self.position: dict[int, int] = {}       # trial index -> its position, while it is in the pool
        self.trial_of: dict = {}                 # future -> its trial, while it is in the pool
        self.broken = False
        self.unsent: list[Trial] = []            # taken, but the pool was broken when handed it
        self.ending = False                      # the reader stops once no event is waiting

    def run(self, prepare: Callable[[], None] | None) -> Iterator[Outcome]:
        pool = self.pool
        pool.signal.value = 0      # a stop asked in an earlier map ended that map
        pool.busy = True
        reader = threading.Thread(target=self._drain, name="optlab-progress-reader", daemon=True)
        reader.start()
        try:
            while self.free and self._submit_next():
                pass
            if prepare is not None:
                prepare()
            while self.trial_of:
                yield from self._collect()
            yield from self._left_over()
        except BaseException:
            pool.abort(self.stop.signum or signal.SIGINT)
            raise
        finally:
            self._end_reader(reader)
            pool.busy = False

    def _end_reader(self, reader: threading.Thread) -> None:
        """Once the reader has delivered every event put before now. While every worker lives, a
        None behind them says so; a worker killed (by a signal, or by the pool once another was)
        may have died holding the queue's lock, or half-way through a message: then the reader
        delivers what is whole and is left behind, with the queue, if it waits on the rest."""
        if self.pool.usable:
            self.pool.queue.put(None)
            reader.join()
        else:
            self.ending = True
            reader.join(timeout=1.0)

    def _submit_next(self) -> bool:
        """Hand the pool the next trial, unless the study is stopping or a worker was lost."""
        if self.broken or self.stop.signum is not None:
            return False
        t = next(self.source, None)
        if t is None:
            return False
        pool = self.pool
        with self.lock:
            self.position[t.index] = slot = self.free.pop()
            pool.flags[slot] = 0      # what an earlier trial in this position was asked does not carry over
            pool.judged[slot] = 0
        try:
            future = pool.executor.submit(run_in_worker, t.config.model_dump(), str(self.root), t.dir_name, t.index,
                                          slot, self.command, t.resume, self.verdicts)
        except RuntimeError:   # BrokenProcessPool (a RuntimeError): a worker died between two trials
            self._lost()
            self._release(t)
            self.unsent.append(t)
            return False
        self.trial_of[future] = t
        return True

    def _collect(self) -> Iterator[Outcome]:
        """Relay stop requests, wait a moment for trials to end, yield their outcomes."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        if self.stop.signum is not None:
            self.pool.signal.value = self.stop.signum   # workers stop after their step; queued trials do not start
        with self.lock:
            for index in self.control.requested():
                if index in self.position:
                    self.pool.flags[self.position[index]] = 1
        done, _ = wait(list(self.trial_of), timeout=STOP_POLL_S, return_when=FIRST_COMPLETED)
        for future in done:
            t = self.trial_of.pop(future)
            try:
                outcome = future.result()
            except BrokenProcessPool:   # a worker was killed; the pool ends every trial it holds
                self._lost()
                outcome = Outcome(t.index, t.dir_name, "failed", LOST_WORKER)
            self._release(t)
            yield outcome   # the caller handles it (a tuner tells the study) before the next trial is taken
            self._submit_next()

    def _left_over(self) -> Iterator[Outcome]:
        """The outcomes of a list's trials never handed to the pool: not started after a stop, failed
        after a lost worker (as those the pool held). An iterator's are not taken."""
        rest = [*self.unsent, *(self.source if self.listed else [])]
        for t in rest:
            if self.broken:
                yield Outcome(t.index, t.dir_name, "failed", LOST_WORKER)
            else:
                yield Outcome(t.index, t.dir_name, "not started")

    def _lost(self) -> None:
        self.broken = True
        self.pool.usable = False

    def _release(self, t: Trial) -> None:
        with self.lock:
            self.free.append(self.position.pop(t.index))

    def _drain(self) -> None:
        """On the reader thread: deliver the workers' events until the None that ends the map
        (or, once ``ending``, until none is waiting)."""
        queue = self.pool.queue
        while True:
            try:
                if not queue._reader.poll(0 if self.ending else READER_POLL_S):
                    if self.ending:
                        return
                    continue
                item = queue.get()
            except (EOFError, OSError, ValueError):   # the queue is closing
                return
            if item is None:
                return
            self.report(item)
            if self.verdicts:
                self._answer(item)

    def _answer(self, events: list[Event]) -> None:
        """The verdicts on the evaluations in ``events``: a stop flag first, then the step judged."""
        requested = self.control.requested()
        with self.lock:
            for e in events:
                slot = self.position.get(e.index)
                if e.row is None or slot is None:
                    continue
                if e.index in requested:
                    self.pool.flags[slot] = 1
                self.pool.judged[slot] = max(self.pool.judged[slot], e.step)
