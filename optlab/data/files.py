"""Temporary files and folders made the way ``open()`` and ``mkdir()`` make files: the umask decides.

``tempfile.mkstemp`` creates mode 0600 and ``mkdtemp`` 0700 whatever the umask, and a file written
to a temporary name and renamed into place keeps that mode: under umask 022 a lab's shared
``runs/`` or data folder became unreadable to colleagues. Here the kernel applies the umask as it
does for any new file (``os.open(..., 0o666)``, ``os.mkdir(..., 0o777)``). :func:`honour_umask`
fixes the mode of a file some other library wrote through its own temporary file (pooch's downloads).

Every optlab writer uses these (optlab.record.rundir's atomic writes, run transfers, the dataset
cache), so a temporary name always has the shape ``.<name>.<8 hex digits><suffix>``.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_UMASK_LOCK = threading.Lock()


def _name(parent: Path, prefix: str, suffix: str) -> Path:
    return Path(parent) / f"{prefix}{secrets.token_hex(4)}{suffix}"


def temp_file(parent: Path, prefix: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new file in ``parent`` opened for writing (fd, path), its mode 0666 less the umask."""
    for _ in range(100):
        path = _name(parent, prefix, suffix)
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")


def temp_dir(parent: Path, prefix: str, suffix: str = "") -> Path:
    """A new folder in ``parent``, its mode 0777 less the umask."""
    for _ in range(100):
        path = _name(parent, prefix, suffix)
        try:
            os.mkdir(path, 0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {parent}")


def umask() -> int:
    """The process's umask, read without changing it where Linux shows it (``/proc/self/status``);
    elsewhere set and restored under a lock (os.umask has no read-only form)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def honour_umask(path: Path) -> None:
    """Give a regular file the mode a plain ``open()`` would have: 0666 less the umask."""
    os.chmod(path, 0o666 & ~umask())
