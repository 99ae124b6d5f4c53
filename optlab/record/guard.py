"""What keeps a run directory safe from other processes and from what was planted in it: one
writer at a time (an exclusive lock), no write or read through a symbolic link, no leftovers of
interrupted atomic writes. Used by :mod:`optlab.record.rundir`, the only writer of a run's files.

- **One writer.** :class:`WriterLock` holds an exclusive ``flock`` (the ``filelock`` library) on
  ``<run>/.lock`` for the life of a run, a resume or a compare/sweep trial. A second writer is
  refused at once (:class:`Busy`, exit 2) with the holder's pid and host, which the holder writes
  into the lock file. The lock file is left in place when the run ends (deleting a lock file is
  racy: a waiter could lock the deleted file while a third process creates a new one); a refused
  ``--resume`` removes the one it created, or puts the previous note back, so that the directory
  is byte-for-byte unchanged.
- **No links.** Files are opened with ``O_NOFOLLOW``: appending to a planted symlink fails
  (:func:`open_append`), a new file or an atomic write replaces the link itself, never its target
  (``os.replace`` renames over the link), and a read of a link is refused (:func:`read_bytes`),
  so a dangling ``diagnostics.csv -> /elsewhere/x`` can neither create nor change ``/elsewhere/x``.
- **No leftovers.** An atomic write goes through ``.<name>.<random>.tmp``; a SIGKILL between
  the write and the rename leaves it. :func:`remove_stale_temps` deletes them, under the lock
  (so never a live writer's), on the next resume or report.
"""

from __future__ import annotations

import os
import platform
import re
import stat
from pathlib import Path

LOCK_NAME = ".lock"
_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")    # tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class Busy(Exception):
    """Another process is writing this run directory."""


class LinkRefused(OSError):
    """A run file is a symbolic link; optlab does not read or write through links."""


def _holder(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            text = fh.read(200).decode("utf-8", "replace").split()
    except OSError:
        return "another process"
    if len(text) >= 2 and text[0].isdigit():
        return f"pid {text[0]} on {text[1]}"
    return "another process"


class WriterLock:
    """The exclusive lock of one run directory; ``acquire()`` raises :class:`Busy` at once if taken."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LOCK_NAME
        self._lock = None
        self._previous: bytes | None = None
        self.created = False

    def acquire(self, note: bool = True) -> WriterLock:
        """Take the lock or raise :class:`Busy`; ``note``: write this process's pid and host in it."""
        from filelock import FileLock, Timeout

        if self.path.is_symlink():          # planted: the lock must live in the directory itself
            self.path.unlink()
        self.created = not self.path.exists()
        lock = FileLock(str(self.path), timeout=0, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            # read once refused: the holder writes its note just after taking the lock, so a
            # holder caught in between reads as "another process"
            holder = _holder(self.path)
            raise Busy(f"{self.path.parent} is being written by {holder} (it holds {self.path}); wait for it to "
                       "finish or stop it, then try again") from None
        except OSError as exc:
            raise Busy(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        self._lock = lock
        if not note:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | _NOFOLLOW)
            with os.fdopen(fd, "r+b") as fh:
                self._previous = fh.read(4096)      # put back by release(discard=True)
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()} {platform.node()}\n".encode())
        except OSError:
            pass                            # the lock holds without the note
        return self

    def release(self, discard: bool = False) -> None:
        """Release; ``discard``: also delete the lock file if this lock created it (a refused
        resume leaves the directory as it found it)."""
        if self._lock is None:
            return
        if discard and self.created:
            self.path.unlink(missing_ok=True)
        elif discard and self._previous is not None:   # the previous holder's note, as it was
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC | _NOFOLLOW)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(self._previous)
            except OSError:
                pass
        self._lock.release()
        self._lock = None

    def __enter__(self) -> WriterLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def holder(folder: Path) -> str:
    """Who holds ``folder``'s lock, as its note says: ``pid 123 on host``, or ``another process``."""
    return _holder(Path(folder) / LOCK_NAME)


def is_locked(folder: Path) -> bool:
    """True if a writer holds ``folder``'s lock now (taken and given back at once to find out)."""
    path = Path(folder) / LOCK_NAME
    if not path.is_file() or path.is_symlink():
        return False
    lock = WriterLock(folder)
    try:
        lock.acquire(note=False)
    except Busy:
        return True
    lock.release()
    return False


def open_append(path: Path, fresh: bool):
    """A text file to append rows to, never through a link: ``fresh`` starts a new file (a link
    in its place is removed, not followed); otherwise an existing link is refused."""
    path = Path(path)
    if fresh and path.is_symlink():
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | _NOFOLLOW | (os.O_TRUNC if fresh else os.O_APPEND)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if path.is_symlink():
            raise LinkRefused(exc.errno, f"{path} is a symbolic link; optlab does not write through links") from None
        raise
    return os.fdopen(fd, "w", newline="", encoding="utf-8")


def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """A run file's bytes, refusing a link or anything but a regular file (``/dev/zero`` would
    never end); ``limit``: refuse a larger file."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if path.is_symlink():
            raise LinkRefused(exc.errno, f"{path} is a symbolic link; optlab does not read through links") from None
        raise
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise LinkRefused(0, f"{path} is not a regular file")
        if limit is not None and info.st_size > limit:
            raise LinkRefused(0, f"{path} is {info.st_size} bytes, more than the {limit} such a file can be")
        return fh.read()


def links_in(folder: Path) -> list[str]:
    """``"name -> target"`` for every symbolic link among a run directory's files (and trials')."""
    out = []
    for entry in sorted(Path(folder).iterdir()):
        if entry.is_symlink():
            out.append(f"{entry.name} -> {os.readlink(entry)}")
    return out


def remove_stale_temps(folder: Path) -> list[str]:
    """Delete what interrupted atomic writes left (``.checkpoint.npz.k3j2x_1.tmp``); the caller
    holds the folder's lock, so no live write is among them. Returns the names removed."""
    removed = []
    for entry in Path(folder).iterdir():
        if _TEMP.match(entry.name) and (entry.is_symlink() or entry.is_file()):
            entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return sorted(removed)
