"""A run directory as bytes: trained on a cluster worker, written on the driver's disk.

A Dask worker (optlab.studies.dask_pool) trains a trial in its own scratch directory and sends the
finished run directory back as ``{relative name: bytes}``; the driver writes it into the study at
once, so the study is whole on the driver's disk whatever file systems the workers have, and never
holds a half-landed trial.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from optlab.data.files import temp_dir
from optlab.record.rundir import atomic_write_bytes


def pack_run(path: Path) -> dict[str, bytes]:
    """Every file of a run directory (relative name -> bytes), to send to another machine; not its
    hidden ones (the writer's ``.lock`` note, leftovers of interrupted writes: optlab.record.guard)."""
    path = Path(path)
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def land_run(path: Path, files: dict[str, bytes]) -> None:
    """Make ``path`` hold exactly ``files`` (pack_run's), atomically: written and synced in a
    hidden sibling directory, then renamed into place; a directory already there (a trial being
    resumed) is swapped out and removed only once the new one is in place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = temp_dir(path.parent, prefix=f".{path.name}.landing-").resolve()    # becomes the run: umask mode
    try:
        for name, data in files.items():
            target = new / name
            if new not in target.resolve().parents:
                raise ValueError(f"refusing to write {name!r} outside the run directory")
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
        if path.exists():
            old = temp_dir(path.parent, prefix=f".{path.name}.old-")
            os.replace(path, old / path.name)
            os.replace(new, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(new, path)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
