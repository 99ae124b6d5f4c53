"""Weight snapshots of a run (``diagnostics.snapshot_every``): ``snapshots/<step>.npz`` in its run
directory, one file per recorded step holding ``params`` (the flat parameter vector) and
``buffers`` (batch norm's running statistics; empty without them).

One file per snapshot, each written atomically through :class:`optlab.record.rundir.RunDir`, is
what makes them safe to append and to resume: a kill loses at most the snapshot being written
(never an earlier one, as rewriting one growing archive would risk), and a resumed run drops
the files after its checkpoint's step (:func:`truncate_snapshots`) and writes them again, so the
directory ends as an uninterrupted run's. Readers take the files in step order, bounded and
verified as checkpoints are (:func:`read_snapshots`).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from optlab.record.bounded_npz import read_npz
from optlab.record.rundir import RunDir

FOLDER = "snapshots"
_NAME = re.compile(r"^(\d+)\.npz$")


def snapshot_steps(run_dir: Path) -> list[int]:
    """The steps with a snapshot, ascending."""
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir()
                  if (m := _NAME.match(p.name)) and p.name == f"{int(m.group(1)):09d}.npz")   # as written


def write_snapshot(rd: RunDir, step: int, params: np.ndarray, buffers: np.ndarray) -> None:
    (rd.path / FOLDER).mkdir(exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, params=params, buffers=buffers)
    rd.write_bytes(f"{FOLDER}/{step:09d}.npz", buf.getvalue())


def truncate_snapshots(rd: RunDir, keep) -> None:
    """Remove the snapshots whose step ``keep(step)`` rejects (a resumed run's later steps)."""
    for step in snapshot_steps(rd.path):
        if not keep(step):
            rd.remove(f"{FOLDER}/{step:09d}.npz")


class SnapshotError(ValueError):
    """A snapshot file that cannot be what the run wrote; the message names it."""


def read_snapshots(run_dir: Path, steps: list[int] | None = None, sizes: tuple[int, int] | None = None,
                   ) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(steps, params (s, n_params), buffers (s, n_buffers)) of the given steps (default: all).

    Each file is read as a checkpoint is (optlab.record.bounded_npz: no link, a regular file
    only, members bounded by what ``sizes`` = (n_params, n_buffers) of the run's model can take)
    and verified: ``params`` and ``buffers`` present, of those sizes, and finite. Anything else
    is a :class:`SnapshotError` naming the file: a planted or damaged snapshot would otherwise
    be drawn as the run's path."""
    steps = snapshot_steps(run_dir) if steps is None else steps
    limit = 8 * (sizes[0] + sizes[1]) + 4096 if sizes is not None else 1 << 30
    kept, params, buffers = [], [], []
    for step in steps:
        path = Path(run_dir) / FOLDER / f"{step:09d}.npz"
        try:
            arrays = read_npz(path, limit, "a snapshot of this model")
            p, b = arrays["params"], arrays["buffers"]
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise SnapshotError(f"{path}: unreadable weight snapshot ({type(exc).__name__}: {exc})") from None
        if sizes is not None and (p.shape != (sizes[0],) or b.shape != (sizes[1],)):
            raise SnapshotError(f"{path}: a weight snapshot of shape {p.shape} (buffers {b.shape}), and the run's "
                                f"model has ({sizes[0]},) (buffers ({sizes[1]},)): not this run's")
        if not (np.all(np.isfinite(p)) and np.all(np.isfinite(b))):
            raise SnapshotError(f"{path}: the weights at step {step} are not finite (NaN or infinity)")
        params.append(p)
        buffers.append(b)
        kept.append(step)
    if not kept:
        return [], np.zeros((0, 0)), np.zeros((0, 0))
    return kept, np.stack(params), np.stack(buffers)
