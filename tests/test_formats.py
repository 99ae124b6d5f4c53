"""File formats: IDX (gzipped or not) and CIFAR-10 binary records, archives and pickles, parsed
from tiny format-true files; corrupt, truncated and wrong-magic files give clear errors."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest
from datafiles import (
    CIFAR_CLASSES,
    cifar_binary_members,
    cifar_like,
    cifar_python_batch,
    cifar_python_members,
    cifar_records,
    idx_bytes,
    py2_pickle,
    tar_gz,
)

from optlab.data import cifar
from optlab.data.errors import DataFormatError
from optlab.data.idx import gunzip, parse_idx, read_idx
from optlab.data.sources import CIFAR_BIN_DIR, CIFAR_BIN_MEMBERS, CIFAR_PY_DIR, CIFAR_PY_MEMBERS


# ---------------------------------------------------------------------------------------------
# IDX
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_idx_images_and_labels_round_trip(tmp_path, gz):
    x = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28).astype(np.uint8)
    y = np.array([7, 0, 9], dtype=np.uint8)
    for name, arr in (("images", x), ("labels", y)):
        data = idx_bytes(arr)
        (tmp_path / name).write_bytes(gzip.compress(data) if gz else data)
    np.testing.assert_array_equal(read_idx(tmp_path / "images", 3), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels", 1), y)
    assert read_idx(tmp_path / "images", 3).dtype == np.uint8


def test_idx_header_is_big_endian_as_mnist():
    data = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))
    assert data[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")   # 2051, 2, 28, 28


def test_idx_wrong_magic_names_both_numbers():
    labels = idx_bytes(np.zeros(5, dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"not an IDX image file: magic number 0x00000801 \(2049\), "
                                              r"expected 0x00000803 \(2051\)"):
        parse_idx(labels, "t.idx", 3)
    with pytest.raises(DataFormatError, match="not an IDX label file"):
        parse_idx(b"PK\x03\x04" + bytes(100), "t.idx", 1)     # a zip file, say
    with pytest.raises(DataFormatError, match="too short"):
        parse_idx(b"\0\0", "t.idx", 1)


def test_idx_truncated_and_overlong_files():
    data = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(DataFormatError, match=r"truncated: the header promises 4 x 28 x 28 = 3136 bytes of data, "
                                              r"the file holds 3000"):
        parse_idx(data[:16 + 3000], "t.idx", 3)
    with pytest.raises(DataFormatError, match="longer than its header says"):
        parse_idx(data + b"\0", "t.idx", 3)
    with pytest.raises(DataFormatError, match="truncated IDX header"):
        parse_idx(data[:10], "t.idx", 3)


def test_gzip_corrupt_or_truncated():
    good = gzip.compress(idx_bytes(np.ones((2, 28, 28), dtype=np.uint8)))
    with pytest.raises(DataFormatError, match="truncated"):
        gunzip(good[: len(good) // 2], "f.gz")
    corrupt = good[:10] + bytes(b ^ 0xFF for b in good[10:30]) + good[30:]
    with pytest.raises(DataFormatError, match="corrupt gzip data"):
        gunzip(corrupt, "f.gz")
    with pytest.raises(DataFormatError, match="garbage after the gzip data"):
        gunzip(good + b"junk", "f.gz")
    assert gunzip(good + good, "f.gz") == 2 * gzip.decompress(good), "multi-member gzip is one stream"


# ---------------------------------------------------------------------------------------------
# CIFAR-10 binary
# ---------------------------------------------------------------------------------------------
def test_binary_records_layout():
    x = np.random.default_rng(0).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    y = np.array([3, 0, 9, 1], dtype=np.uint8)
    data = cifar_records(x, y)
    assert len(data) == 4 * 3073 and data[0] == 3 and data[1:1025] == x[0, 0].tobytes(), "label, then the red plane"
    xs, ys = cifar.parse_records(data, "b.bin")
    np.testing.assert_array_equal(xs, x)
    np.testing.assert_array_equal(ys, y)


def test_binary_records_errors():
    data = cifar_records(np.zeros((2, 3, 32, 32), np.uint8), np.array([1, 2], np.uint8))
    with pytest.raises(DataFormatError, match=r"6145 bytes is not a whole number of 3073-byte CIFAR-10 records"):
        cifar.parse_records(data[:-1], "b.bin")
    bad = bytearray(data)
    bad[3073] = 10
    with pytest.raises(DataFormatError, match=r"label 10 at record 1 is outside 0..9"):
        cifar.parse_records(bytes(bad), "b.bin")
    with pytest.raises(DataFormatError, match="expected 10 class names, found 3"):
        cifar.parse_meta_txt(b"cat\ndog\nfrog\n", "batches.meta.txt")


def test_binary_archive_and_extracted_directory_agree(tmp_path):
    arrays = cifar_like()
    (tmp_path / "a.tar.gz").write_bytes(tar_gz(cifar_binary_members(arrays), CIFAR_BIN_DIR))
    from_archive = cifar.read_binary_archive(tmp_path / "a.tar.gz")
    for name, data in cifar_binary_members(arrays).items():
        (tmp_path / CIFAR_BIN_DIR).mkdir(exist_ok=True)
        (tmp_path / CIFAR_BIN_DIR / name).write_bytes(data)
    from_dir = cifar.read_binary_dir(tmp_path)
    for got in (from_archive, from_dir):
        for key in ("x_train", "y_train", "x_test", "y_test"):
            np.testing.assert_array_equal(got[key], arrays[key])
        assert got["class_names"] == CIFAR_CLASSES
        assert got["x_train"].flags.c_contiguous and got["x_train"].shape == (100, 3, 32, 32)


def test_archive_missing_member_or_not_an_archive(tmp_path):
    members = cifar_binary_members(cifar_like())
    del members["test_batch.bin"]
    (tmp_path / "a.tar.gz").write_bytes(tar_gz(members, CIFAR_BIN_DIR))
    with pytest.raises(DataFormatError, match=f"the archive lacks {CIFAR_BIN_DIR}/test_batch.bin"):
        cifar.read_binary_archive(tmp_path / "a.tar.gz")
    (tmp_path / "b.tar.gz").write_bytes(b"not a tar file at all")
    with pytest.raises(DataFormatError, match="not a readable .tar.gz archive"):
        cifar.read_binary_archive(tmp_path / "b.tar.gz")


def test_archive_links_and_traversal_names_are_never_followed(tmp_path):
    """Only the exact expected member names are read, into memory; a symlink in their place is refused."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        evil = tarfile.TarInfo("../../evil.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
        link = tarfile.TarInfo(f"{CIFAR_BIN_DIR}/data_batch_1.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    (tmp_path / "a.tar.gz").write_bytes(buf.getvalue())
    with pytest.raises(DataFormatError, match="is not a regular file"):
        cifar.read_binary_archive(tmp_path / "a.tar.gz")
    assert not (tmp_path.parent / "evil.txt").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz"]


# ---------------------------------------------------------------------------------------------
# CIFAR-10 python (pickles)
# ---------------------------------------------------------------------------------------------
def test_python_batch_as_python2_wrote_it():
    x = np.random.default_rng(1).integers(0, 256, (5, 3072), dtype=np.uint8)
    data = cifar_python_batch(x, np.array([0, 9, 4, 4, 2]))
    assert data.startswith(b"\x80\x02}") and b"cnumpy.core.multiarray\n_reconstruct\n" in data
    xs, ys = cifar.parse_python_batch(data, "data_batch_1")
    np.testing.assert_array_equal(xs.reshape(5, -1), x)
    assert ys.tolist() == [0, 9, 4, 4, 2] and xs.shape == (5, 3, 32, 32)


def test_python_archive_matches_binary_archive(tmp_path):
    arrays = cifar_like(seed=3)
    (tmp_path / "py.tar.gz").write_bytes(tar_gz(cifar_python_members(arrays), CIFAR_PY_DIR))
    got = cifar.read_python_archive(tmp_path / "py.tar.gz")
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(got[key], arrays[key])
    assert got["class_names"] == CIFAR_CLASSES
    assert set(CIFAR_PY_MEMBERS) == set(cifar_python_members(arrays)) and len(CIFAR_BIN_MEMBERS) == 7


class _Boom:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [
    pickle.dumps(_Boom(), protocol=2),                                   # os.system
    b"\x80\x02cbuiltins\neval\nU\x061 + 1 \x85R.",                        # builtins.eval
    b"\x80\x02c__builtin__\nopen\nU\x0b/etc/passwd\x85R.",              # file access
])
def test_pickle_outside_the_allow_list_is_refused(payload):
    with pytest.raises(DataFormatError, match="refused to load global"):
        cifar.restricted_loads(payload, "data_batch_1")


def test_python_batch_with_wrong_content():
    with pytest.raises(DataFormatError, match=r"expected b'data' to be a uint8 array \(n, 3072\)"):
        cifar.parse_python_batch(py2_pickle([(b"labels", b"](e")]), "data_batch_1")
    with pytest.raises(DataFormatError, match="not a valid pickle"):
        cifar.parse_python_batch(b"\x80\x02}(U\x04data", "data_batch_1")     # truncated
    bad_label = cifar_python_batch(np.zeros((2, 3072), np.uint8), np.array([1, 12]))
    with pytest.raises(DataFormatError, match=r"labels outside 0..9"):
        cifar.parse_python_batch(bad_label, "data_batch_1")
