"""The run directory: the only module that writes a run's files (docs/conventions.md, "Files").

Layout of ``<runs>/<YYYY-MM-DD_HHMMSS>_<name>/``:

- ``config.yaml``   the resolved config (every default filled in): re-running it repeats the run;
- ``meta.json``     status (running / completed / diverged / interrupted / failed), the kind of
                    run (optlab.config.kinds: gradient, search or surface), times,
                    versions, host, pid, git commit of the working directory, command line, and a
                    ``heartbeat`` time refreshed while training, so :func:`run_status` can tell a
                    run that is still going from one that was killed (``died``);
- ``metrics.csv``   appended and flushed line by line during training (``METRIC_COLUMNS``; a
                    random or local search writes ``SEARCH_COLUMNS``, one row per trial; a surface
                    run ``SURFACE_COLUMNS``: its path);
- ``checkpoint.npz`` the state to resume from (:mod:`optlab.training.checkpoint`), when one was written;
- ``diagnostics.csv``, ``activations.json``  what :mod:`optlab.training.diagnostics` records (update/weight
                    ratios per layer, activation histograms), appended like the metrics;
- ``snapshots/<step>.npz``, ``sharpness.csv``  weight snapshots and the top Hessian eigenvalue
                    (``diagnostics.snapshot_every``, ``sharpness_every``: optlab.record.snapshots,
                    optlab.training.curvature); ``landscape/``  what ``optlab landscape`` computed
                    and drew (optlab.record.landscape_report);
- ``summary.json``  final and peak values (written at the end, whatever the end was);
- ``loss.png``, ``accuracy.png`` (``path.png`` for a surface), ``results.md`` (and ``lr.png``,
  ``update_ratios.png``, ``activations.png`` when there is something to show)  rendered from the
  files above by :mod:`optlab.record.run_report` (``.svg`` / ``.pdf`` with ``plots.format``), and
  ``report.html``, all of it on one offline page (:mod:`optlab.record.html_report`);
- ``events.out.tfevents.*``  TensorBoard's copy of the metrics, with ``logging.tensorboard``
  (:mod:`optlab.record.tensorboard`).

Whole files are written atomically (temporary file in the same directory, then ``os.replace``),
so a crash never leaves a half-written JSON or PNG. One process writes a run directory at a time
(``.lock``), and no file is read or written through a symbolic link (:mod:`optlab.record.guard`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import optlab
from optlab.data.files import temp_file
from optlab.record import guard
from optlab.record.style import plain_ticks

# loss_evals: forward passes over the examples used so far (optlab.training.budget), the x-axis that puts
# every search strategy on one scale.
METRIC_COLUMNS = ["step", "epoch", "loss_evals", "loss", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                  "time"]
# A random or local search (optlab.training.search): one row per trial; loss is the candidate's, best_loss
# the incumbent's after the trial, accepted 1 where the candidate became the incumbent.
SEARCH_COLUMNS = ["step", "epoch", "loss_evals", "loss", "best_loss", "accepted", "train_loss", "train_acc",
                  "val_loss", "val_acc", "time"]
# A surface run (optlab.engine.surfaces) has no data: each row is the point (x, y) after `step`
# updates and the function's value `loss` there; step 0 is the start.
SURFACE_COLUMNS = ["step", "loss", "lr", "x", "y", "time"]
# Columns that depend on the clock; everything else is identical for the same config and seed.
WALL_CLOCK_COLUMNS = ["time"]

MAX_JSON_BYTES = 64 * 1024 * 1024   # meta.json, summary.json, a sweep's manifest: far less in practice
HEARTBEAT_S = 5.0     # seconds between heartbeats written to meta.json while a run trains


class RunDirError(Exception):
    """The runs directory cannot be used (not writable, not a directory, disk full)."""


def default_runs_root() -> Path:
    """``$OPTLAB_RUNS_DIR`` if set, else ``runs/`` under the current working directory."""
    return Path(os.environ.get("OPTLAB_RUNS_DIR") or "runs")


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = temp_file(path.parent, prefix=f".{path.name}.")     # the umask applies, as for open()
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_safe(value: Any) -> Any:
    """NaN and inf are not JSON: store them as null so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _git_commit(cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def config_comment(path: str | Path | None) -> str | None:
    """The comment opening a config file (a shipped config states its question, source and command
    there), or None; kept in meta.json for report.html. Its ``Command:`` lines are left out: they
    say how the recipe is meant to be run, and a page shows the command that did run instead."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines() if path else []
    except OSError:
        return None
    out = []
    for line in lines:
        if not line.startswith("#"):
            break
        if not line[1:].strip().startswith("Command:"):
            out.append(line[1:].strip())
    return "\n".join(out).strip() or None


def question_of(origin: str | Path | None) -> str | None:
    """The opening comment of a config file, ``origin`` a path or ``recipe:NAME``
    (optlab.config.recipes); None where there is none to read. A study keeps it in its manifest
    when it starts, so its page states the question from wherever it is re-rendered."""
    if not origin:
        return None
    origin = str(origin)
    from optlab.config.recipes import RECIPES_DIR

    path = RECIPES_DIR / f"{origin[len('recipe:'):]}.yaml" if origin.startswith("recipe:") else Path(origin)
    return config_comment(path) if path.is_file() else None


def _question(command: Iterable[str], origin: str | None = None) -> str | None:
    """The opening comment of the config file the run read (``origin``), else of the one named on
    the command line."""
    if origin and (question := question_of(origin)) is not None:
        return question
    for arg in map(str, command):
        if arg.endswith((".yaml", ".yml")) and Path(arg).is_file():
            return config_comment(arg)
    return None


def format_value(value: Any) -> str:
    """CSV cell: floats by ``repr`` (shortest round-trip form), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class MetricsWriter:
    """Appends rows to metrics.csv, flushing each so a killed run keeps every finished step.

    ``append=True`` continues an existing file (a resumed run) instead of starting a new one.
    """

    def __init__(self, path: Path, columns: list[str], append: bool = False,
                 listeners: Iterable[Callable[[dict[str, Any]], None]] = ()) -> None:
        self.columns = columns
        self._listeners = list(listeners)
        self._known = frozenset(columns)
        self._fh = guard.open_append(path, fresh=not append)   # never through a planted link
        if not append:
            self._fh.write(",".join(columns) + "\n")
            self._fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        if not self._known.issuperset(row):
            raise KeyError(f"metrics columns not declared: {sorted(set(row) - self._known)}")
        self._fh.write(",".join(map(format_value, map(row.get, self.columns))) + "\n")
        self._fh.flush()
        for listener in self._listeners:   # e.g. TensorBoard (optlab.record.tensorboard)
            listener(row)

    def close(self) -> None:
        self._fh.close()


def _complete_rows(text: str) -> tuple[str, list[str]]:
    """Header and the complete data lines (a line cut by a kill has no newline and is dropped)."""
    lines = text.split("\n")
    return lines[0], [line for line in lines[1:-1] if line]


def read_metrics(path: Path) -> dict[str, list[float]]:
    """metrics.csv as columns of floats (NaN for empty cells)."""
    header_line, lines = _complete_rows(guard.read_bytes(Path(path)).decode("utf-8"))
    rows = list(csv.reader([header_line, *lines]))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    return {name: [float(r[i]) if r[i] else math.nan for r in body] for i, name in enumerate(header)}


class RunDir:
    """One run's directory. Create with :meth:`create`; reopen with ``RunDir(path)``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._listeners: dict[str, list[Callable[[dict[str, Any]], None]]] = {}

    def listen(self, name: str, listener: Callable[[dict[str, Any]], None]) -> None:
        """Also hand every row written to the table ``name`` (metrics.csv) to ``listener``."""
        self._listeners.setdefault(name, []).append(listener)

    @classmethod
    def create(cls, root: Path, name: str, stamp: bool = True) -> RunDir:
        """Make ``root/<date>_<time>_<name>``, adding ``-2``, ``-3`` ... if it already exists.

        ``stamp=False`` drops the date and time: a compare directory names its trials
        ``trials/<variant>-s<seed>`` so that they read in variant order, not in start order.
        """
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now().strftime('%Y-%m-%d_%H%M%S')}_{name}" if stamp else name
        for k in range(1, 10_000):
            path = root / (stem if k == 1 else f"{stem}-{k}")
            try:
                path.mkdir()  # atomic: fails if another process took the name first
                return cls(path)
            except FileExistsError:
                continue
        raise RuntimeError(f"could not find a free run directory name under {root}")

    # -- whole files ----------------------------------------------------------------------------
    def write_bytes(self, name: str, data: bytes) -> Path:
        atomic_write_bytes(self.path / name, data)
        return self.path / name

    def remove(self, name: str) -> None:
        """Delete a file that would no longer tell the truth (a resumed run's old summary)."""
        (self.path / name).unlink(missing_ok=True)

    def write_text(self, name: str, text: str) -> Path:
        atomic_write_bytes(self.path / name, text.encode("utf-8"))
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(_json_safe(obj), indent=2) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads(guard.read_bytes(self.path / name, limit=MAX_JSON_BYTES).decode("utf-8"))

    def read_config(self) -> dict:
        """config.yaml as a plain mapping, what the reports read of it (``optlab.config`` loads it
        to run it): ``{}`` when there is none or it is not a mapping. Parsed by libyaml where it is
        built (the same values as ``yaml.safe_load``, ~10x faster: a sweep's leaderboard reads
        every trial's)."""
        path = self.path / "config.yaml"
        if not path.is_file():
            return {}
        import yaml

        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        return loaded if isinstance(loaded, dict) else {}

    def read_bytes(self, name: str) -> bytes:
        """A file's bytes, never through a link (optlab.record.guard.read_bytes)."""
        return guard.read_bytes(self.path / name)

    def lock(self) -> guard.WriterLock:
        """The directory's writer lock (:class:`optlab.record.guard.WriterLock`), not yet taken."""
        return guard.WriterLock(self.path)

    def remove_stale_temps(self) -> list[str]:
        """Delete leftovers of atomic writes cut by a kill; call it holding :meth:`lock`."""
        return guard.remove_stale_temps(self.path)

    def read_text(self, name: str) -> str:
        return (self.path / name).read_text(encoding="utf-8")

    def write_figure(self, name: str, fig: Any) -> Path:
        """A matplotlib figure in the format its name ends with (png, svg, pdf); vector files
        carry no date, so the same figure gives the same bytes."""
        fmt = Path(name).suffix.lstrip(".").lower()
        buf = io.BytesIO()
        metadata = {"png": None, "svg": {"Date": None}, "pdf": {"CreationDate": None, "ModDate": None}}[fmt]
        plain_ticks(fig)
        fig.savefig(buf, format=fmt, dpi=120, metadata=metadata)
        atomic_write_bytes(self.path / name, buf.getvalue())
        return self.path / name

    # -- metrics and meta -----------------------------------------------------------------------
    def metrics(self, columns: list[str] = METRIC_COLUMNS, append: bool = False,
                name: str = "metrics.csv") -> MetricsWriter:
        """A writer of rows by step: metrics.csv, or another such table (``diagnostics.csv``)."""
        return MetricsWriter(self.path / name, columns, append=append, listeners=self._listeners.get(name, ()))

    def truncate_metrics(self, last_step: int, name: str = "metrics.csv") -> None:
        """Keep the header and the rows up to ``last_step`` (atomically), for a resumed run.

        Rows past the checkpoint were written after it and will be written again by the resumed
        run; a row cut short by a kill is dropped. ``name``: any table whose first column is the step.
        """
        header, rows = _complete_rows(guard.read_bytes(self.path / name).decode("utf-8"))
        n = len(header.split(","))
        keep = [r for r in rows if len(r.split(",")) == n and int(r.split(",", 1)[0]) <= last_step]
        self.write_text(name, "\n".join([header, *keep]) + "\n")

    def start(self, command: Iterable[str] | None = None, origin: str | None = None, kind: str | None = None) -> None:
        """A fresh meta.json: status running. ``origin``: where the config came from, a path or
        ``recipe:NAME`` (optlab.config.recipes), when it was read from a file; ``kind``: the kind
        of run (optlab.config.kinds), which the report reads while the run has no summary yet."""
        import numpy

        self.write_json("meta.json", {
            "status": "running",
            **({"kind": kind} if kind is not None else {}),
            "started": _now(),
            "ended": None,
            "optlab": optlab.__version__,
            "numpy": numpy.__version__,
            "python": platform.python_version(),
            "host": platform.node(),
            "git_commit": _git_commit(Path.cwd()),
            "command": list(command if command is not None else sys.argv),
            "config": origin,
            "question": _question(command if command is not None else sys.argv, origin),
            "pid": os.getpid(),
            "heartbeat": _now(),
        })

    def restart(self, command: Iterable[str] | None, at_step: int, kind: str | None = None) -> None:
        """Mark a resumed run as running again, recording when, how and from which step (and its
        ``kind``, which a directory written before runs recorded it lacks)."""
        meta = self.read_json("meta.json")
        history = meta.get("resumed", [])
        history.append({"at_step": at_step, "time": _now(), "previous_status": meta.get("status"),
                        "command": list(command if command is not None else sys.argv)})
        meta.update(status="running", ended=None, host=platform.node(), pid=os.getpid(), heartbeat=_now(),
                    resumed=history, **({"kind": kind} if kind is not None else {}))
        for stale in ("error", "signal", "checkpoint_step"):
            meta.pop(stale, None)
        self.write_json("meta.json", meta)

    def heartbeat(self, **extra: Any) -> None:
        """Refresh meta.json's heartbeat (and any extra fields): the run is alive."""
        meta = self.read_json("meta.json")
        meta.update(heartbeat=_now(), **extra)
        self.write_json("meta.json", meta)

    def finish(self, status: str, **extra: Any) -> None:
        meta = self.read_json("meta.json")
        meta.update(status=status, ended=_now(), heartbeat=_now(), **extra)
        self.write_json("meta.json", meta)


# -------------------------------------------------------------------------------------------------
# checks before a run starts, and the status of a run seen from outside
# -------------------------------------------------------------------------------------------------
def check_writable(root: Path) -> None:
    """Make ``root`` if needed and prove a file can be created in it; else :class:`RunDirError`.

    Done before any data is loaded or any step is taken, so a bad ``--runs-dir`` costs nothing.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".optlab-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(f"cannot write run directories under {root}: {exc.strerror or exc}") from None


def check_space(root: Path, needed: int) -> None:
    """:class:`RunDirError` if the file system of ``root`` has less than ``needed`` bytes free."""
    free = shutil.disk_usage(root).free
    if free < needed:
        raise RunDirError(f"not enough free space under {root}: the run needs about {needed / 1e6:.1f} MB, "
                          f"{free / 1e6:.1f} MB are free")
