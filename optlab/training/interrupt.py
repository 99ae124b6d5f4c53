"""Graceful stop on Ctrl-C (SIGINT) and SIGTERM: finish the step, save, then stop.

:func:`graceful_stop` installs handlers that only *record* the first signal; the training loop
looks at :attr:`StopRequest.signum` after each step, writes a checkpoint, marks the run
``interrupted`` and returns. A second signal means "now": it raises :class:`Abort` (a
``KeyboardInterrupt``) wherever the program is. That cannot corrupt a file, because every
whole file is written atomically (temporary file, then rename) and metrics are appended a whole
line at a time (docs/conventions.md, "Files").

Exit status: ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM), what shells report for
a process ended by that signal, so scripts and schedulers see why the run stopped.

For ``compare`` / ``sweep`` (optlab.studies.executor): the parent holds the StopRequest; a worker process
ignores SIGINT itself (the terminal sends it to the whole process group) and is told to stop by
the parent, so that each finishes its step and checkpoints once; then the parent raises
:class:`Stopped`.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

HANDLED = (signal.SIGINT, signal.SIGTERM)
# summary.json / meta.json ``note`` of a run whose stop request came after its last step
LATE_STOP_NOTE = "the stop request came after the last step: training had finished"


class Interrupted(KeyboardInterrupt):
    """A KeyboardInterrupt that knows which signal caused it (``signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Abort(Interrupted):
    """A second signal arrived while stopping gracefully: leave at once."""


class Stopped(Interrupted):
    """A graceful stop has finished: every trial that was running recorded its interruption
    (optlab.studies.executor); the caller ends as interrupted, exit status ``exit_code(signum)``."""


class StopRequest:
    """What the training loop polls: ``signum`` is None until a stop is asked for."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._shielded = False
        self._pending: int | None = None

    def request(self, signum: int = signal.SIGINT) -> None:
        self.signum = signum

    @contextmanager
    def shielded(self) -> Iterator[None]:
        """Hold a second signal back until the block is done, then raise :class:`Abort`.

        For the few small writes that record how a run ended (summary.json, meta.json's
        status): aborting them would leave the run saying ``running``.
        """
        self._shielded = True
        try:
            yield
        finally:
            self._shielded = False
        if self._pending is not None:
            raise Abort(self._pending)

    @property
    def name(self) -> str | None:
        return signal.Signals(self.signum).name if self.signum is not None else None

    def stops_a_finished_run(self) -> bool:
        """Whether a request that arrives after the last step still makes the run ``interrupted``:
        a signal does (the exit status says interrupted, so must the run); a study's verdict on one
        trial does not (optlab.studies.trial_work.TrialStop: its run is whole, and completed)."""
        return self.signum is not None


def exit_code(signum: int) -> int:
    """The shell convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    """The exit status for an interrupt: its signal's (Abort, Stopped), else SIGINT's (a plain
    KeyboardInterrupt comes from Python's own Ctrl-C handler)."""
    return exit_code(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT)


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM as "stop after this step" while the block runs.

    The previous handlers come back on exit. Outside the main thread signals cannot be handled
    (Python delivers them to the main thread only), so the request simply never fires there.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame) -> None:
        if stop.signum is None:
            stop.request(signum)
        elif stop._shielded:
            stop._pending = signum
        else:
            raise Abort(signum)

    previous = {sig: signal.signal(sig, handler) for sig in HANDLED}
    try:
        yield stop
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
