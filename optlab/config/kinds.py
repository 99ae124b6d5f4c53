"""The kind of a run, resolved once from its config: which loop trains it and how its record reads.

Three kinds today:

- ``gradient``: a network trained on data by an optimizer (optlab.training.gradient_loop);
- ``search``: a random or local search over a network's weights (optlab.training.search), no gradient;
- ``surface``: an optimizer's path on a 2-D test function, no data (optlab.training.descend).

:func:`kind_of` is the only place that tests the config fields deciding the kind (``model.name``,
``search.strategy``; :func:`run_kind` hands them over from a config); every run writes the name to meta.json and summary.json as ``"kind"``, and
:func:`recorded_kind` reads it back (deriving it for directories written before). The
facts of a :class:`RunKind` are what other layers ask (has it accuracy? a checkpoint?) instead of
testing config fields. The training side maps a kind to its loop (optlab.training.kinds), the
record side to its figures and facts (optlab.record.kinds): a new kind of run is one entry here and
one on each side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class RunKind:
    name: str
    learns_from_data: bool   # data, a network and a loss: accuracy on the splits, gradcheck, memory estimate
    uses_optimizer: bool     # steps follow config.optimizer (a search draws candidates and ignores it)
    checkpoints: bool        # keeps a checkpoint: --resume, a pruner's stop, weights for landscape / hessian

    def __str__(self) -> str:
        return self.name


GRADIENT = RunKind("gradient", learns_from_data=True, uses_optimizer=True, checkpoints=True)
SEARCH = RunKind("search", learns_from_data=True, uses_optimizer=False, checkpoints=False)
SURFACE = RunKind("surface", learns_from_data=False, uses_optimizer=True, checkpoints=False)
KINDS: dict[str, RunKind] = {k.name: k for k in (GRADIENT, SEARCH, SURFACE)}


def kind_of(model: str | None, strategy: str | None) -> RunKind:
    """The kind from the two fields that decide it: ``model.name`` and ``search.strategy``
    (missing: the defaults, a network trained by gradient)."""
    if model == "surface":
        return SURFACE
    if (strategy or "gradient") != "gradient":
        return SEARCH
    return GRADIENT


def run_kind(config: Any) -> RunKind:
    """The kind of ``config``: a :class:`~optlab.config.schema.Config`, or the plain mapping of a
    run's config.yaml (directories written before runs recorded their kind)."""
    if isinstance(config, Mapping):
        search = config.get("search")
        return kind_of(_name(config.get("model")), search.get("strategy") if isinstance(search, Mapping) else None)
    return kind_of(config.model.name, config.search.strategy)


def recorded_kind(summary: Mapping | None, meta: Mapping | None, config: Mapping | None) -> RunKind:
    """The kind a run directory's files say: summary.json's, else meta.json's (a run that has not
    ended), else derived from its config.yaml (a directory from before runs recorded it). The one
    place a run's record is read for its kind (optlab.record.kinds.kind_in reads the files)."""
    for record in (summary, meta):
        name = (record or {}).get("kind")
        if isinstance(name, str) and name in KINDS:
            return KINDS[name]
    return run_kind(config or {})


def _name(section: Any) -> str | None:
    """A section's component name: ``{name: surface, ...}`` or the shorthand ``surface``."""
    return section.get("name") if isinstance(section, Mapping) else section if isinstance(section, str) else None
