"""The run directory: the only module that writes a run's files (conventions.md, "Files").

Layout of ``<runs>/<YYYY-MM-DD_HHMMSS>_<name>/``:

- ``config.yaml``   the resolved config (every default filled in): re-running it repeats the run;
- ``meta.json``     status (running / completed / diverged / interrupted / failed), times,
                    versions, host, git commit of the working directory, command line;
- ``metrics.csv``   appended and flushed line by line during training (``METRIC_COLUMNS``; a
                    random or local search writes ``SEARCH_COLUMNS``, one row per trial);
- ``summary.json``  final and peak values (written at the end, whatever the end was);
- ``loss.png``, ``accuracy.png``, ``results.md``  rendered from the files above by
  :mod:`optlab.report`.

Whole files are written atomically (temporary file in the same directory, then ``os.replace``),
so a crash never leaves a half-written JSON or PNG.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import optlab

# loss_evals: forward passes over the examples used so far (optlab.budget), the x-axis that puts
# every search strategy on one scale.
METRIC_COLUMNS = ["step", "epoch", "loss_evals", "loss", "lr", "train_loss", "train_acc", "val_loss", "val_acc",
                  "time"]
# A random or local search (optlab.search): one row per trial; loss is the candidate's, best_loss
# the incumbent's after the trial, accepted 1 where the candidate became the incumbent.
SEARCH_COLUMNS = ["step", "epoch", "loss_evals", "loss", "best_loss", "accepted", "train_loss", "train_acc",
                  "val_loss", "val_acc", "time"]
# Columns that depend on the clock; everything else is identical for the same config and seed.
WALL_CLOCK_COLUMNS = ["time"]


def default_runs_root() -> Path:
    """``$OPTLAB_RUNS_DIR`` if set, else ``runs/`` under the current working directory."""
    return Path(os.environ.get("OPTLAB_RUNS_DIR") or "runs")


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def format_value(value: Any) -> str:
    """CSV cell: floats by ``repr`` (shortest round-trip form), None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class MetricsWriter:
    """Appends rows to metrics.csv, flushing each so a killed run keeps every finished step."""

    def __init__(self, path: Path, columns: list[str]) -> None:
        self.columns = columns
        self._fh = open(path, "w", newline="", encoding="utf-8")
        self._fh.write(",".join(columns) + "\n")
        self._fh.flush()

    def write(self, row: dict[str, Any]) -> None:
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"metrics columns not declared: {sorted(unknown)}")
        self._fh.write(",".join(format_value(row.get(c)) for c in self.columns) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_metrics(path: Path) -> dict[str, list[float]]:
    """metrics.csv as columns of floats (NaN for empty cells)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    return {name: [float(r[i]) if r[i] else math.nan for r in body] for i, name in enumerate(header)}


class RunDir:
    """One run's directory. Create with :meth:`create`; reopen with ``RunDir(path)``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, root: Path, name: str) -> RunDir:
        """Make ``root/<date>_<time>_<name>``, adding ``-2``, ``-3`` ... if it already exists."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now().strftime('%Y-%m-%d_%H%M%S')}_{name}"
        for k in range(1, 10_000):
            path = root / (stem if k == 1 else f"{stem}-{k}")
            try:
                path.mkdir()  # atomic: fails if another process took the name first
                return cls(path)
            except FileExistsError:
                continue
        raise RuntimeError(f"could not find a free run directory name under {root}")

    # -- whole files ----------------------------------------------------------------------------
    def write_text(self, name: str, text: str) -> Path:
        atomic_write_bytes(self.path / name, text.encode("utf-8"))
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(_json_safe(obj), indent=2) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def write_figure(self, name: str, fig: Any) -> Path:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
        atomic_write_bytes(self.path / name, buf.getvalue())
        return self.path / name

    # -- metrics and meta -----------------------------------------------------------------------
    def metrics(self, columns: list[str] = METRIC_COLUMNS) -> MetricsWriter:
        return MetricsWriter(self.path / "metrics.csv", columns)

    def start(self, command: Iterable[str] | None = None) -> None:
        import numpy

        self.write_json("meta.json", {
            "status": "running",
            "started": _now(),
            "ended": None,
            "optlab": optlab.__version__,
            "numpy": numpy.__version__,
            "python": platform.python_version(),
            "host": platform.node(),
            "git_commit": _git_commit(Path.cwd()),
            "command": list(command if command is not None else sys.argv),
        })

    def finish(self, status: str, **extra: Any) -> None:
        meta = self.read_json("meta.json")
        meta.update(status=status, ended=_now(), **extra)
        self.write_json("meta.json", meta)
