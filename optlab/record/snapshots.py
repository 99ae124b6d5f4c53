"""Weight snapshots of a run (``diagnostics.snapshot_every``): ``snapshots/<step>.npz`` in its run
directory, one file per recorded step holding ``params`` (the flat parameter vector) and
``buffers`` (batch norm's running statistics; empty without them).

One file per snapshot, each written atomically through :class:`optlab.record.rundir.RunDir`, is
what makes them safe to append and to resume: a kill loses at most the snapshot being written
(never an earlier one, as rewriting one growing archive would risk), and a resumed run drops
the files after its checkpoint's step (:func:`truncate_snapshots`) and writes them again, so the
directory ends as an uninterrupted run's. Readers take the files in step order.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from optlab.record.rundir import RunDir

FOLDER = "snapshots"
_NAME = re.compile(r"^(\d+)\.npz$")


def snapshot_steps(run_dir: Path) -> list[int]:
    """The steps with a snapshot, ascending."""
    folder = Path(run_dir) / FOLDER
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name)))


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


def read_snapshots(run_dir: Path, steps: list[int] | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """(steps, params (s, n_params), buffers (s, n_buffers)) of the given steps (default: all);
    an unreadable file (cut by a kill before the rename could not happen, but a damaged disk
    could) is skipped."""
    steps = snapshot_steps(run_dir) if steps is None else steps
    kept, params, buffers = [], [], []
    for step in steps:
        try:
            with np.load(Path(run_dir) / FOLDER / f"{step:09d}.npz", allow_pickle=False) as npz:
                params.append(npz["params"])
                buffers.append(npz["buffers"])
            kept.append(step)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            continue
    if not kept:
        return [], np.zeros((0, 0)), np.zeros((0, 0))
    return kept, np.stack(params), np.stack(buffers)
