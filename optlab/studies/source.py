"""The config a sweep's trials are built from, kept in the sweep directory as ``source.yaml``:
the user's file as it was when the sweep began (what they wrote, not the resolved config.yaml).

Every trial is its source, the sweep's fixed overrides and its own values: at the start, for an
Optuna trial asked hours later, and on ``--resume``. Building them from the user's file itself
would let an edit made meanwhile change trials the sweep reports as one study; building them from
the resolved config.yaml would not take ``optimizer.name=sgd`` over an Adam section (its beta1,
beta2 and eps, written out as defaults, are keys SGD refuses). Relative paths in it (a user's
optimizer file) stay relative to the original's folder, which sweep.json records as
``source_dir``. Sweeps written before it have no source.yaml: their trials are built as then.
"""

from __future__ import annotations

from pathlib import Path

from optlab.config.loading import load_config
from optlab.config.safe_yaml import read_text
from optlab.config.schema import Config
from optlab.record.rundir import RunDir

NAME = "source.yaml"


def keep(rd: RunDir, config_path: Path) -> dict:
    """Copy ``config_path`` into the sweep directory; the manifest entries that locate it."""
    rd.write_text(NAME, read_text(Path(config_path)))
    return {"source_dir": str(Path(config_path).resolve().parent)}


def kept(path: Path) -> Path | None:
    """The sweep's source.yaml, None for a sweep written before sweeps kept it."""
    source = Path(path) / NAME
    return source if source.is_file() else None


def trial_config(path: Path, manifest: dict, fixed: list[str], values: list[str],
                 original: Path | None = None) -> Config:
    """The config of a trial of the sweep in ``path``: its source, ``fixed`` and its ``values``
    overrides (ConfigError as load_config's). A sweep without source.yaml is built as it was
    then: an Optuna sweep from its ``original`` config file, ``fixed`` and ``values``; a random
    or grid sweep from its config.yaml (the base with ``fixed`` applied) and ``values``."""
    source = kept(path)
    if source is not None:
        return load_config(source, [*fixed, *values], base_dir=Path(manifest["source_dir"]))
    if original is not None:
        return load_config(original, [*fixed, *values])
    return load_config(Path(path) / "config.yaml", values)
