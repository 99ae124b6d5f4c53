"""Optuna's pieces for an adaptive sweep: samplers and pruners by name, the study's storage, the
mapping of optlab's search specs onto Optuna's distributions, and the watch that prunes a trial
where it runs.

Optuna (``pip install -e ".[tune]"``) is imported only here and only when a sweep asks for it,
so a plain install stays small; without it, :func:`import_optuna` raises :class:`MissingExtra`.

Pruning happens on the driver (:class:`Pruning`): the executor delivers each trial's evaluation
rows as events, wherever the trial runs (a local pool, a Dask cluster; optlab.studies.executor);
each validation accuracy is reported to the trial's Optuna trial and the pruner asked
(``Trial.report`` then ``Trial.should_prune``, Optuna's own pruning protocol); a condemned trial
is asked to stop (``TrialControl.stop``): it stops after its current step with a checkpoint, and
the sweep marks it ``pruned`` (optlab.studies.tune). Only the driver touches the storage, so the
study's SQLite file in the sweep directory works with a cluster whose workers cannot see it.
"""

from __future__ import annotations

import difflib
import math
import threading
from typing import Callable

from optlab.config.loading import ConfigError, Problem

SAMPLERS = ("tpe", "random", "qmc", "grid")
PRUNERS = ("none", "median", "asha", "hyperband")
INSTALL = 'pip install -e ".[tune]" (in optlab\'s clone)'


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message says how to install it."""


def import_optuna():
    try:
        import optuna
    except ImportError:
        raise MissingExtra(f"--sampler / --pruner / --storage use Optuna, which is not installed: {INSTALL}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # optlab's own progress shows the trials
    return optuna


def check_name(kind: str, name: str, known: tuple[str, ...]) -> list[Problem]:
    """[] when ``name`` is known, else a problem naming the closest known name."""
    if name in known:
        return []
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return [Problem(f"--{kind}", "", f"unknown {kind} {name!r}; {hint}choose one of {', '.join(known)}")]


def make_sampler(name: str, seed: int, grid_space: dict | None = None):
    """The sampler, seeded: the same seed gives the same proposals (with one worker)."""
    optuna = import_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "qmc":
        try:
            import scipy.stats  # noqa: F401  (Optuna's QMCSampler draws from scipy.stats.qmc)
        except ImportError:
            raise MissingExtra(f"--sampler qmc needs scipy, which is not installed: {INSTALL}") from None
        return optuna.samplers.QMCSampler(qmc_type="sobol", scramble=True, seed=seed)
    return _grid_sampler(optuna)(grid_space, seed=seed)


def _grid_sampler(optuna):
    """Optuna's GridSampler for ask and tell. Optuna's own calls ``study.stop()`` when told the
    grid's last trial, which raises outside ``study.optimize``; here the driver asks as many
    trials as the grid has points (optlab.studies.tune.make_tune_plan) and stops by itself."""

    class AskTellGridSampler(optuna.samplers.GridSampler):
        def after_trial(self, study, trial, state, values) -> None:
            pass

    return AskTellGridSampler


def make_pruner(name: str, eval_every: int, steps: int):
    """The pruner; resources are training steps, the smallest rung one evaluation (``eval_every``)."""
    optuna = import_optuna()
    if name == "median":   # Optuna's defaults: no decision before 5 trials have finished
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "asha":     # Li et al. 2020: rungs at eval_every * 3^k steps
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=eval_every, reduction_factor=3)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=eval_every, max_resource=steps, reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_storage(url: str):
    """Optuna's RDB storage at ``url``; ConfigError (exit 2) when it cannot be opened."""
    optuna = import_optuna()
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}}
                                          if url.startswith("sqlite") else {})
    except Exception as exc:   # SQLAlchemy's errors: a bad URL, no driver, no server, no permission
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError([Problem("--storage", "", f"cannot open {url!r}: {message}")]) from None


def _parsed(url: str):
    try:
        from sqlalchemy.engine import make_url

        return make_url(url)
    except Exception:   # not a URL SQLAlchemy can parse: open_storage refuses it
        return None


def in_memory(url: str) -> bool:
    """Whether ``url`` is an SQLite database in memory (``sqlite://``, ``sqlite:///:memory:``):
    nothing of the study outlives the process."""
    u = _parsed(url)
    return u is not None and u.get_backend_name() == "sqlite" and \
        (u.database in (None, "", ":memory:") or u.query.get("mode") == "memory")


def sqlite_file(url: str):
    """The file of an SQLite ``url`` (a Path), or None for another database or one in memory."""
    from pathlib import Path

    u = _parsed(url)
    if u is None or u.get_backend_name() != "sqlite" or in_memory(url) or str(u.database).startswith("file:"):
        return None
    return Path(u.database)


def shown(url: str) -> str:
    """``url`` with its password masked, for sweep.json and the reports."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:   # not a URL SQLAlchemy can parse: open_storage has refused it already
        return url


# ------------------------------------------------------------------------------------------------
# search space: optlab's specs -> Optuna's distributions (optlab.studies.sweep.Param)
# ------------------------------------------------------------------------------------------------
def active(param, chosen: dict) -> bool:
    """Whether ``param`` applies given the values chosen so far: an optimizer's own setting
    (``optimizer.momentum``) only for the optimizers that have it, as a branch of an Optuna
    objective suggests it only inside that branch."""
    from optlab.engine.optimizers import lookup

    head, _, tail = param.key.partition(".")
    name = chosen.get("optimizer.name")
    if head != "optimizer" or tail in ("name", "schedule", "from") or "." in tail or name is None:
        return True
    try:
        return tail in lookup(name).hyper_names
    except KeyError:      # not an optimizer's name: the trial's config will say so
        return True


def suggest(trial, params: list, fixed_name: str | None) -> dict:
    """Ask ``trial`` for each active parameter, in the order given (optimizer.name first);
    returns the chosen values (inactive keys absent)."""
    chosen: dict = {} if fixed_name is None else {"optimizer.name": fixed_name}
    values: dict = {}
    for p in sorted(params, key=lambda p: p.key != "optimizer.name"):
        if not active(p, chosen):
            continue
        if p.kind == "choice":
            text = trial.suggest_categorical(p.key, p.texts)
            value = p.choices[p.texts.index(text)]
        elif p.kind == "int":
            value = trial.suggest_int(p.key, int(p.low), int(p.high))
        else:
            value = trial.suggest_float(p.key, p.low, p.high, log=p.kind == "log")
        chosen[p.key] = values[p.key] = value
    return values


def grid_space(params: list) -> dict:
    """GridSampler's space: each parameter's grid values (choices by their YAML text)."""
    return {p.key: (p.texts if p.kind == "choice" else p.grid()) for p in params}


# ------------------------------------------------------------------------------------------------
# pruning, on the driver
# ------------------------------------------------------------------------------------------------
class Pruning:
    """Reports each running trial's evaluations to its Optuna trial and stops the ones the pruner
    condemns (``on_event``: optlab.studies.executor.run_trials; ``stop``: TrialControl.stop)."""

    def __init__(self, stop: Callable[[int], None]) -> None:
        self._stop = stop
        self._trials: dict = {}           # executor index -> optuna Trial
        self.pruned_at: dict[int, int] = {}   # executor index -> the step of the evaluation that pruned it
        self._lock = threading.Lock()

    def watch(self, index: int, trial) -> None:
        with self._lock:
            self._trials[index] = trial

    def unwatch(self, index: int) -> None:
        """Before the trial is told: an evaluation row that arrives later (a reader thread may still
        hold it when the outcome is in) is not reported to a finished Optuna trial."""
        with self._lock:
            self._trials.pop(index, None)

    def on_event(self, event) -> None:
        row = event.row
        if row is None or event.step == 0 or event.index in self.pruned_at:
            return
        acc = row.get("val_acc")
        if acc is None or not math.isfinite(acc):
            return
        with self._lock:                  # a backend's reader threads may deliver at once
            trial = self._trials.get(event.index)
            if trial is None:             # not watched, or told already
                return
            trial.report(float(acc), event.step)
            if trial.should_prune():
                self.pruned_at[event.index] = event.step
                self._stop(event.index)
