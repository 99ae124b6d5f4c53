"""Errors a real dataset can raise, each carrying a message written for the user.

They all derive from :class:`DataError`; the CLI prints the message and exits with code 1
(docs/conventions.md, "Exit codes": the run failed; the config itself was valid), with no traceback
unless ``--debug`` is given.
"""

from __future__ import annotations


class DataError(Exception):
    """A dataset cannot be used: its files are missing, unverifiable, tampered with or malformed."""


class DatasetUnavailable(DataError):
    """The dataset's files are not on disk and could not be downloaded (offline, server down)."""


class ChecksumMismatch(DataError):
    """A file's hash differs from the checksum table: it is never used."""

    def __init__(self, path, expected: str, actual: str, what: str = "file", advice: str | None = None):
        self.path, self.expected, self.actual = path, expected, actual
        algorithm, digest = expected.split(":", 1)
        advice = advice or "It was not used."
        super().__init__(f"checksum mismatch for {what} {path}:\n"
                         f"  expected {algorithm.upper()} {digest}\n"
                         f"  actual   {algorithm.upper()} {actual}\n{advice}")


class UnverifiedFiles(DataError):
    """Files were found for which no published checksum exists, and the config did not allow them."""


class DataFormatError(DataError):
    """A file is not in the format its name promises (wrong magic, truncated, corrupt)."""
