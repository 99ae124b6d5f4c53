"""The errors of config input: one :class:`Problem` per mistake, ``file:line  key.path  message``,
all of them raised together as :class:`ConfigError` (the CLI prints them and exits 2).

Its own module so that the YAML reader (:mod:`optlab.config.safe_yaml`) and the validation
(:mod:`optlab.config.loading`) raise the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Problem:
    where: str    # "path/to/file.yaml:12", "override 'lr=1'" or the file alone
    key: str      # dotted key path, "" for the whole file
    message: str

    def __str__(self) -> str:
        return "  ".join(part for part in (self.where, self.key, self.message) if part)


class ConfigError(Exception):
    """One or more problems in a config file or its overrides."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
