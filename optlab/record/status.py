"""Whether a run or a study is really what its files say: a ``running`` run or study whose
process is gone (SIGKILL, out of memory, power cut) or whose heartbeat went stale has ``died``.

Apart from the run directory's writer because reading a status needs no writing, and every
report and resume asks it.
"""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

from optlab.record.rundir import HEARTBEAT_S, RunDir  # noqa: F401  (HEARTBEAT_S: named in run_status's docstring)

STALE_AFTER_S = 600.0  # a "running" run whose heartbeat is older than this is taken to have died


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # exists, owned by someone else
        return True
    try:   # a zombie (dead, not yet reaped by a parent that does not reap) answers kill(0) too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def run_status(path: Path, now: datetime | None = None, stale_after: float = STALE_AFTER_S) -> str:
    """A run's status as meta.json records it, except that a run which says ``running`` but
    cannot be is ``died`` (killed with SIGKILL, out of memory, power cut).

    A ``running`` run has died when it was started on this host and its pid is gone, or when its
    heartbeat (refreshed every :data:`HEARTBEAT_S` seconds while training) is older than
    ``stale_after`` seconds — the only test possible for a run from another host, and the one
    that catches a reused pid.
    """
    meta = RunDir(Path(path)).read_json("meta.json")
    return _alive_or_died(meta, now, stale_after) if isinstance(meta, dict) else "unknown"


def _alive_or_died(meta: dict, now: datetime | None = None, stale_after: float | None = STALE_AFTER_S) -> str:
    status = meta.get("status", "unknown")
    if status != "running":
        return status if isinstance(status, str) else "unknown"
    pid, host = meta.get("pid"), meta.get("host")
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 1 << 31 and host == platform.node() \
            and not _pid_alive(pid):
        return "died"
    beat = meta.get("heartbeat") or meta.get("started")
    if beat is not None and stale_after is not None:
        try:
            age = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(beat)).total_seconds()
        except (TypeError, ValueError):   # not a time: nothing to tell by it
            return "running"
        if age > stale_after:
            return "died"
    return "running"


def owner() -> dict:
    """``pid`` and ``host`` of this process, for a manifest that says ``running`` while it lives."""
    return {"pid": os.getpid(), "host": platform.node()}


def study_status(manifest: dict) -> str:
    """A comparison's or sweep's status as its manifest says, except that one which says
    ``running`` while its process (``pid`` on ``host``, see :func:`owner`) is gone has ``died``
    (a SIGKILL of the parent: its workers exit too, optlab.studies.executor)."""
    return _alive_or_died(manifest, stale_after=None)
