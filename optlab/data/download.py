"""Find a dataset's files on disk, download the missing ones, and verify every file before use.

:func:`locate` is what loaders call: it looks in ``<data root>/<dataset>/`` for a complete set
of files (in the order of ``DatasetSpec.sources``), verifies each file against the checksum
table in :mod:`optlab.data.sources`, and downloads what is missing when it may. A file whose hash
differs is never used (:class:`ChecksumMismatch` names it and both hashes). Files with no
published checksum are used only when the caller allows it.

Downloads go through pooch (one file at a time, to a temporary file in the target folder, moved
into place only after its hash matched), over each URL of the file in turn (mirrors), with a rich
progress bar when a console is given. Retries: a timeout, a dropped connection or a 5xx answer is
retried ``RETRIES`` times with a 1 s, 2 s, ... pause; a refused connection, an unknown host or a
4xx answer moves straight on to the next mirror, so an offline machine fails in well under a
second with one message naming the dataset, the files, the directory and how to place them by
hand (:class:`DatasetUnavailable`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from optlab.data.errors import ChecksumMismatch, DatasetUnavailable, UnverifiedFiles
from optlab.data.files import honour_umask
from optlab.data.sources import ENV_DATA_DIR, DatasetSpec, FileSpec, Source

RETRIES = 2            # extra attempts per URL after a transient failure
TIMEOUT = 30           # seconds to connect / between bytes (requests' timeout)
CHUNK = 1 << 16        # download chunk (bytes)

_HASH_MEMO: dict[tuple, str] = {}   # (path, size, mtime_ns, inode, algorithm) -> hex digest


def file_hash(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, remembered for this process while its size and mtime are unchanged
    (a run verifies before downloading and again before parsing; the second costs nothing)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino, algorithm)
    if key not in _HASH_MEMO:
        with open(path, "rb") as fh:
            _HASH_MEMO[key] = hashlib.file_digest(fh, algorithm).hexdigest()
    return _HASH_MEMO[key]


def verify(path: Path, spec: FileSpec) -> None:
    """Raise :class:`ChecksumMismatch` unless ``path`` has the hash the table gives for it."""
    algorithm, expected = spec.hash.split(":", 1)
    actual = file_hash(path, algorithm)
    if actual != expected.lower():
        raise ChecksumMismatch(path, spec.hash, actual, advice=(
            "The file is corrupt, incomplete or not the published one, and was not used. Delete it; "
            f"`optlab data download {path.parent.name}` fetches it again."))


@dataclass(frozen=True)
class Located:
    """A dataset's files, found (and verified where a checksum exists)."""

    spec: DatasetSpec
    source: Source
    folder: Path
    paths: dict[str, Path]       # FileSpec.name -> path on disk
    fingerprint: tuple[str, ...]  # identifies the files' contents: their hashes (or size and mtime)

    @property
    def verified(self) -> bool:
        return self.source.verified


def writable(path: Path) -> bool:
    """Whether optlab may write under ``path`` (its nearest existing ancestor): the permission
    bits are honoured even for root, so a data directory marked read-only is never changed."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return bool(path.stat().st_mode & stat.S_IWUSR) and os.access(path, os.W_OK)


def _present(source: Source, folder: Path) -> dict[str, Path]:
    return {f.name: folder / f.name for f in source.files if (folder / f.name).is_file()}


def _use(spec: DatasetSpec, source: Source, folder: Path) -> Located:
    """Verify a complete source and describe it."""
    paths = {f.name: folder / f.name for f in source.files}
    prints = []
    for f in source.files:
        if f.hash:
            verify(paths[f.name], f)
            prints.append(f.hash)
        else:
            st = paths[f.name].stat()
            prints.append(f"size:{st.st_size}:mtime_ns:{st.st_mtime_ns}")
    return Located(spec, source, folder, paths, tuple(prints))


def locate(spec: DatasetSpec, root: Path, *, allow_unverified: bool = False, download: bool = True,
           console=None) -> Located:
    """The dataset's files under ``root/<name>/``, verified; missing files are downloaded first.

    Raises :class:`DatasetUnavailable` (missing and not downloadable now), :class:`ChecksumMismatch`
    (a file differs from the table) or :class:`UnverifiedFiles` (only files without a published
    checksum are present and ``allow_unverified`` is false).
    """
    folder = root / spec.name
    for source in spec.sources:
        if len(_present(source, folder)) == len(source.files):
            if source.verified or allow_unverified:
                return _use(spec, source, folder)
            raise UnverifiedFiles(_unverified_message(spec, source, folder))
    if not download:
        raise DatasetUnavailable(_missing_message(spec, folder, []))
    return fetch(spec, root, console=console)


def _preferred(spec: DatasetSpec) -> Source:
    """The source that is downloaded (the first with URLs), else the first one."""
    return next((s for s in spec.sources if s.downloadable), spec.sources[0])


def fetch(spec: DatasetSpec, root: Path, *, console=None) -> Located:
    """Download (and verify) whatever the dataset's downloadable source lacks under ``root``."""
    folder = root / spec.name
    source = _preferred(spec)
    if not source.downloadable:
        raise DatasetUnavailable(_missing_message(spec, folder, ["no download location is known for these files"]))
    missing = [f for f in source.files if not (folder / f.name).is_file()]
    for f in source.files:
        if f not in missing:
            verify(folder / f.name, f)
    if missing:
        if not writable(folder):
            raise DatasetUnavailable(_missing_message(spec, folder, ["the directory is read-only"]))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetUnavailable(_missing_message(spec, folder, [f"cannot create the directory: {exc}"])) from None
    for f in missing:
        failures = _download(f, folder, console)
        if failures:
            raise DatasetUnavailable(_missing_message(spec, folder, failures))
    return _use(spec, source, folder)


@dataclass(frozen=True)
class Presence:
    """What ``optlab data list`` reports for one dataset."""

    spec: DatasetSpec
    folder: Path
    state: str                 # verified | unverified | corrupt | incomplete | missing
    source: Source | None      # the complete (or partly present) source found
    bytes_on_disk: int
    detail: str


def presence(spec: DatasetSpec, root: Path) -> Presence:
    """Whether the dataset is on disk under ``root`` and whether its files verify (hashes them)."""
    folder = root / spec.name
    for source in spec.sources:
        present = _present(source, folder)
        if len(present) < len(source.files):
            continue
        size = sum(p.stat().st_size for p in present.values())
        if not source.verified:
            return Presence(spec, folder, "unverified", source, size, f"{source.note}; needs data.allow_unverified")
        try:
            _use(spec, source, folder)
        except ChecksumMismatch as exc:
            return Presence(spec, folder, "corrupt", source, size, f"checksum mismatch: {Path(exc.path).name}")
        return Presence(spec, folder, "verified", source, size, source.note)
    source = _preferred(spec)
    present = _present(source, folder)
    total = sum(f.size or 0 for f in source.files)
    if present:
        size = sum(p.stat().st_size for p in present.values())
        return Presence(spec, folder, "incomplete", source, size,
                        f"{len(present)} of {len(source.files)} files; `optlab data download {spec.name}`")
    return Presence(spec, folder, "missing", None, 0, f"download {_size(total)}: `optlab data download {spec.name}`")


# ---------------------------------------------------------------------------------------------
# downloading one file over its mirrors
# ---------------------------------------------------------------------------------------------
def _transient(exc: Exception) -> bool:
    """Worth retrying the same URL: timeouts, dropped transfers, server errors (5xx)."""
    import requests

    if isinstance(exc, requests.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ConnectTimeout):
        return False   # refused, unknown host: offline or wrong mirror; the next mirror is the retry
    return isinstance(exc, (requests.Timeout, requests.exceptions.ChunkedEncodingError))


def _reason(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    text = str(exc)
    for hint in ("Name or service not known", "Temporary failure in name resolution", "Connection refused",
                 "Network is unreachable", "timed out", "No route to host"):
        if hint in text:
            return f"{type(exc).__name__} ({hint.lower()})"
    return f"{type(exc).__name__}: {text[:160]}"


class _Downloader:
    """pooch's HTTP downloader, remembering the hash of what arrived (for the mismatch message)."""

    def __init__(self, algorithm: str, bar) -> None:
        import pooch

        self.algorithm, self.arrived = algorithm, None
        self.http = pooch.HTTPDownloader(progressbar=bar or False, timeout=TIMEOUT, chunk_size=CHUNK)

    def __call__(self, url, output_file, pooch_obj, check_only=False):
        result = self.http(url, output_file, pooch_obj, check_only=check_only)
        if not check_only:
            with open(output_file, "rb") as fh:
                self.arrived = hashlib.file_digest(fh, self.algorithm).hexdigest()
        return result


def _download(f: FileSpec, folder: Path, console) -> list[str]:
    """Fetch ``f`` into ``folder`` from its first working URL; return the failures ([] on success).

    Raises :class:`ChecksumMismatch` when no URL worked and at least one served other bytes.
    """
    import pooch
    import requests

    failures: list[str] = []
    mismatch: ChecksumMismatch | None = None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel("WARNING")    # pooch announces each download at INFO; the progress bar does that
    try:
        for url in f.urls:
            for attempt in range(RETRIES + 1):
                if console is not None:
                    console.print(f"downloading {folder.name}/{f.name} from {url}", markup=False, highlight=False,
                                  soft_wrap=True)
                with _progress(console, f) as bar:
                    downloader = _Downloader(f.hash.split(":")[0], bar)
                    fetcher = pooch.create(path=folder, base_url="", registry={f.name: f.hash}, urls={f.name: url})
                    try:
                        honour_umask(Path(fetcher.fetch(f.name, downloader=downloader)))   # pooch's temp: 0600
                        return []
                    except ValueError:            # pooch: the download's hash differs; it deleted the file
                        if downloader.arrived is None:
                            raise
                        mismatch = ChecksumMismatch(url, f.hash, downloader.arrived, what="the download of",
                                                    advice="The download was deleted and not used.")
                        failures.append(f"{url}: checksum mismatch (refused)")
                        break                     # a mirror serving other bytes: try the next one
                    except (requests.RequestException, OSError) as exc:
                        if attempt < RETRIES and _transient(exc):
                            time.sleep(attempt + 1)
                            continue
                        failures.append(f"{url}: {_reason(exc)}")
                        break
    finally:
        logger.setLevel(level)
    if mismatch is not None:
        mismatch.args = (str(mismatch) + "\nURLs tried:\n" + "\n".join(f"  {line}" for line in failures),)
        raise mismatch
    return failures


class _RichBar:
    """The progress-bar protocol pooch drives (``total``, ``update``, ``reset``, ``close``)."""

    def __init__(self, progress, task) -> None:
        self.progress, self.task = progress, task

    @property
    def total(self):
        return self.progress.tasks[0].total

    @total.setter
    def total(self, value) -> None:
        self.progress.update(self.task, total=value or None)

    def update(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def reset(self) -> None:
        self.progress.reset(self.task)

    def close(self) -> None:
        self.progress.refresh()


@contextmanager
def _progress(console, f: FileSpec) -> Iterator[_RichBar | None]:
    if console is None or not console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        yield _RichBar(progress, progress.add_task(Path(f.name).name, total=f.size))


# ---------------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------------
def _size(n: int | None) -> str:
    return "?" if n is None else f"{n / 1e6:.1f} MB"


def _missing_message(spec: DatasetSpec, folder: Path, failures: list[str]) -> str:
    source = _preferred(spec)
    missing = [f for f in source.files if not (folder / f.name).is_file()]
    lines = [f"dataset {spec.name!r} ({spec.title}) is not available.",
             f"  directory searched: {folder}",
             f"  missing files: {', '.join(f.name for f in missing)}"]
    if failures:
        lines.append("  download failed:")
        lines += [f"    {failure}" for failure in failures]
    else:
        lines.append("  downloading was not attempted")
    total = _size(sum(f.size or 0 for f in missing))
    lines.append(f"To place the files by hand, download (from any machine online; total {total}):")
    lines += [f"    {f.urls[0] if f.urls else f.name}" for f in missing]
    others = [s.note for s in spec.sources if s is not source]
    alternatives = f" (optlab also reads: {'; '.join(others)})" if others else ""
    lines.append(f"and copy them under these names into {folder}/{alternatives}. "
                 f"optlab verifies them against its checksum table before use. "
                 f"To read a different data directory, set {ENV_DATA_DIR} or data.root.")
    return "\n".join(lines)


def _unverified_message(spec: DatasetSpec, source: Source, folder: Path) -> str:
    wanted = _preferred(spec)
    return (f"dataset {spec.name!r}: found the {source.note} in {folder}, but no checksum is published for "
            f"these files, so optlab cannot verify them.\n"
            f"Either place {', '.join(f.name for f in wanted.files)} there (verified; `optlab data download "
            f"{spec.name}` fetches them), or accept the files as they are with data.allow_unverified: true.")
