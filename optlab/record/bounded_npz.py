"""Reading an ``.npz`` file optlab wrote (a checkpoint, a weight snapshot) without trusting it:
never through a symbolic link, never from anything but a regular file (a FIFO would block the
read forever), and no member inflated beyond a bound the caller knows from the run's config
(a 4.7 MB archive can declare gigabytes). Only numeric arrays are read: no pickles, no objects.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path

import numpy as np

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def read_npz(path: Path, limit: int, what: str = "such a file") -> dict[str, np.ndarray]:
    """The archive's arrays by name; ValueError (OSError for a link or a missing file) when the
    file is not a regular file, or a member's declared or actual size, or all of them together,
    exceed ``limit`` bytes (``what`` names what the bound is for, in the message)."""
    from numpy.lib import format as npy

    fd = os.open(Path(path), os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as raw:
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            raise ValueError("not a regular file")
        arrays, total = {}, 0
        with zipfile.ZipFile(raw) as archive:
            for member in archive.infolist():
                total += member.file_size
                if member.file_size > limit or total > limit:
                    raise ValueError(f"member {member.filename} inflates to {member.file_size} bytes, more than the "
                                     f"{limit} bytes {what} can hold")
                if not member.filename.endswith(".npy"):
                    raise ValueError(f"unexpected member {member.filename}")
                with archive.open(member) as fh:
                    version = npy.read_magic(fh)
                    header = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(version)
                    if header is None:
                        raise ValueError(f"member {member.filename}: .npy format {version}")
                    shape, _, dtype = header(fh)
                    if dtype.hasobject:
                        raise ValueError(f"member {member.filename} holds Python objects")
                    if int(np.prod(shape, dtype=object)) * dtype.itemsize > member.file_size:
                        raise ValueError(f"member {member.filename} claims {shape} {dtype}, more than it holds")
                with archive.open(member) as fh:
                    arrays[member.filename[:-4]] = npy.read_array(fh, allow_pickle=False)
    return arrays
