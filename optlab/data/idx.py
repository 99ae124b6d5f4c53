"""Parse IDX files (MNIST, Fashion-MNIST), gzipped or not, into uint8 arrays without a Python loop.

Format (LeCun's MNIST page; ``shared/data/README.md``): a big-endian header ``0x00 0x00 <type>
<ndim>``, then ``ndim`` big-endian uint32 dimensions, then the data in row-major order. The
MNIST files use type ``0x08`` (unsigned byte): images are magic 2051 (``0x00000803``, three
dimensions n x rows x cols), labels magic 2049 (``0x00000801``, one dimension n).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from optlab.data.errors import DataFormatError

UBYTE = 0x08
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is a gzip stream (by content, not by name)."""
    data = path.read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    return gunzip(data, path)


def gunzip(data: bytes, where) -> bytes:
    """Decompress a gzip stream (all members). zlib directly is twice as fast as ``gzip.decompress``."""
    out, rest = [], data
    try:
        while rest[:2] == GZIP_MAGIC:
            d = zlib.decompressobj(wbits=31)     # 31: expect a gzip header and trailer
            out.append(d.decompress(rest))
            if not d.eof:
                raise DataFormatError(f"{where}: the gzip stream is truncated (the file ends early)")
            rest = d.unused_data
    except zlib.error as exc:
        raise DataFormatError(f"{where}: corrupt gzip data ({exc})") from None
    if rest.strip(b"\0"):
        raise DataFormatError(f"{where}: {len(rest)} bytes of garbage after the gzip data")
    return b"".join(out)


def parse_idx(data: bytes, where, ndim: int) -> np.ndarray:
    """An IDX byte string -> uint8 array of its shape (a read-only view of ``data``).

    ``ndim`` is what the caller expects (3 for images, 1 for labels); anything else, a wrong
    magic number or a size that disagrees with the header raises :class:`DataFormatError`.
    """
    if len(data) < 4:
        raise DataFormatError(f"{where}: {len(data)} bytes, too short to be an IDX file")
    zero, dtype, dims = data[:2], data[2], data[3]
    magic = int.from_bytes(data[:4], "big")
    expected = (UBYTE << 8) | ndim
    if zero != b"\0\0" or dtype != UBYTE or dims != ndim:
        kind = {3: "image", 1: "label"}.get(ndim, f"{ndim}-d")
        raise DataFormatError(f"{where}: not an IDX {kind} file: magic number 0x{magic:08x} ({magic}), "
                              f"expected 0x{expected:08x} ({expected})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{where}: truncated IDX header ({len(data)} bytes, expected {header})")
    shape = tuple(int(v) for v in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    body = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != body:
        what = "truncated" if len(data) - header < body else "longer than its header says"
        raise DataFormatError(f"{where}: {what}: the header promises {' x '.join(map(str, shape))} = {body} bytes "
                              f"of data, the file holds {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    return parse_idx(read_bytes(path), path, ndim)
