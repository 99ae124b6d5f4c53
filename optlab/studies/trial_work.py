"""What a worker does with one trial, whichever executor sent it: train (or resume) it into a run
directory, report its evaluations as they happen and its progress in batches, and honour two
kinds of stop request.

Kept apart from the executors so that a local pool process and a Dask worker run exactly the same
code (the same numbers: one BLAS thread, optlab.training.threads, set by the run itself).

Stops: the study's (the signal the driver received: every trial stops) and one trial's
(:data:`STOP_TRIAL`, TrialControl.stop on the driver). Both are honoured after the step in
progress, with a checkpoint (optlab.training.interrupt); the training loop reads ``signum`` after
every step, so reading it must cost nothing: the backends keep the answer in this process.

Verdicts: where the driver judges evaluations (a pruner), a trial waits after sending each one
until the driver has answered it (:func:`wait_for_verdict`), so that a condemned trial stops at
the step of the evaluation that condemned it, in a pool or on a cluster as when run alone,
instead of running on for as many steps as the round trip lasts (a tiny model takes thousands
of steps a second). The wait is one round trip per evaluation (docs/sweep.md, "Pruning").
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Callable

from optlab.config.schema import Config
from optlab.studies.trials import REPORT_EVERY_S, Event, Outcome
from optlab.training.interrupt import StopRequest

STOP_TRIAL = -1    # the "signal" of a stop asked for one trial by the driver (meta.json: stop_trial)
VERDICT_WAIT_S = 60.0   # the longest a trial waits for the driver's verdict on an evaluation (a driver gone)
VERDICT_POLL_S = 0.0005


def wait_for_verdict(judged: Callable[[], int], step: int, stop: StopRequest) -> None:
    """Block until the driver has judged the evaluation at ``step`` (``judged()``: the last step it
    answered for this trial) or a stop is asked for; at most VERDICT_WAIT_S."""
    deadline = time.monotonic() + VERDICT_WAIT_S
    while judged() < step and stop.signum is None and time.monotonic() < deadline:
        time.sleep(VERDICT_POLL_S)


class TrialStop(StopRequest):
    """A trial's stop request: ``read()`` gives the study's signal number, STOP_TRIAL, or None."""

    def __init__(self, read: Callable[[], int | None]) -> None:
        self._read = read
        super().__init__()

    @property
    def signum(self) -> int | None:
        return self._read()

    @signum.setter
    def signum(self, value: int | None) -> None:   # StopRequest.__init__: the driver decides, not the trial
        pass

    def stops_a_finished_run(self) -> bool:
        """The study's signal does; the driver's stop of this one trial (a pruner's verdict that
        reached it after its last step) does not: the trial ran every step and is completed."""
        return self._read() not in (None, STOP_TRIAL)

    @property
    def name(self) -> str | None:
        signum = self._read()
        if signum is None:
            return None
        return "stop_trial" if signum == STOP_TRIAL else signal.Signals(signum).name


class Reporter:
    """A trial's evaluation rows, each sent when it is made (a pruner's verdict must not wait on a
    timer: a short trial could end before its first row left), and its progress, sent at most
    every ``every`` seconds with them (a Dask report is a message to the scheduler; a pool's, a
    pipe write; run alone, a call)."""

    def __init__(self, index: int, send: Callable[[list[Event]], None], every: float = REPORT_EVERY_S,
                 verdict: Callable[[int], None] | None = None) -> None:
        self.index, self._send, self._every, self._verdict = index, send, every, verdict
        self._step, self._total = 0, 0
        self._last = 0.0

    def on_step(self, step: int, total: int, loss: float) -> None:
        self._step, self._total = step, total
        if time.monotonic() - self._last >= self._every:
            self.flush()

    def on_eval(self, step: int, row: dict) -> None:
        self.flush(Event(self.index, step, self._total, row))
        if self._verdict is not None:   # the driver judges this evaluation before the next step is taken
            self._verdict(step)

    def flush(self, *rows: Event) -> None:
        """Send ``rows`` (evaluations) and the progress so far, now."""
        self._last = time.monotonic()
        events = [*rows, Event(self.index, self._step, self._total)] if self._total else list(rows)
        if events:
            self._send(events)


def run_trial(config: dict, root: str, dir_name: str, index: int, command: list[str], resume: bool,
              send: Callable[[list[Event]], None], stop: StopRequest,
              verdict: Callable[[int], None] | None = None) -> Outcome:
    """One trial into ``<root>/<dir_name>``: a new run, or (``resume``) the one there continued.
    ``verdict(step)``: after sending an evaluation, block until the driver has judged it (a
    pruner's verdict then stops the trial at that very step, not a round trip later)."""
    from optlab.training.run import resume as resume_run
    from optlab.training.run import run

    if stop.signum is not None:
        return Outcome(index, dir_name, "stopped" if stop.signum == STOP_TRIAL else "not started")
    reporter = Reporter(index, send, verdict=verdict)
    hooks = dict(on_step=reporter.on_step, on_eval=reporter.on_eval, command=command, stop=stop, render=False)
    try:
        where = Path(root) / dir_name     # e.g. <compare dir>/trials/sgd-s0
        cfg = Config.model_validate(config)
        if resume:
            result = resume_run(where, cfg, **hooks)
        else:
            result = run(cfg, where.parent, dir_name=where.name, **hooks)
        status = result.status
        if status == "interrupted" and stop.signum == STOP_TRIAL:
            status = "stopped"
        return Outcome(index, dir_name, status)
    except Exception as exc:   # the run directory says 'failed' with the error; the others go on
        return Outcome(index, dir_name, "failed", f"{type(exc).__name__}: {exc}")
    finally:
        reporter.flush()
