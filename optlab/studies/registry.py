"""The kinds of study, and which one a directory holds.

:data:`STUDIES` lists every :class:`~optlab.studies.study.Study`; a new kind of study is a module
with its Study, a row here, and a row in optlab.record.reports.DIRECTORIES (its manifest and report).
:func:`study_in` is how ``optlab compare --resume DIR`` and ``optlab sweep --resume DIR`` find
what to continue: by the manifest in DIR (optlab.record.reports.directory_kind), then by the kind that
claims it (a sweep.json of mode ``optuna`` is an Optuna sweep's).
"""

from __future__ import annotations

from pathlib import Path

from optlab.config.loading import ConfigError, Problem
from optlab.record.reports import DIRECTORIES, directory_kind, none_of
from optlab.record.rundir import RunDir
from optlab.studies import compare, sweep, tune
from optlab.studies.study import Study

STUDIES: tuple[Study, ...] = (compare.STUDY, tune.STUDY, sweep.STUDY)   # the first that claims a manifest wins


def study_in(path: Path, made_by: str | None = None) -> Study:
    """The study in ``path``. ConfigError (``--resume``) when ``path`` holds none of the studies
    that the command ``made_by`` makes (any study, without it), or one that another command makes."""
    path = Path(path)
    made = [s for s in STUDIES if made_by is None or s.kind == made_by]
    found = directory_kind(path)
    study = None
    if found is not None and found.study:
        manifest = RunDir(path).read_json(found.marker)
        study = next((s for s in STUDIES if s.manifest == found.marker and s.claims(manifest)), None)
    if study is None:
        markers = {s.manifest for s in made}
        expected = none_of(k for k in DIRECTORIES if k.marker in markers)
        raise ConfigError([Problem("--resume", "", f"{path}: not {expected}")])
    if study not in made:
        raise ConfigError([Problem("--resume", "", f"{path} is a {study.what}: continue it with "
                                                   f"optlab {study.kind} --resume {path}")])
    return study
