"""Where an Optuna sweep's study lives (optlab.studies.tune): its storage (``study.db`` in the
sweep directory, or ``--storage URL``), opened before any trial runs and, on a resume, checked
to hold every trial sweep.json lists, so that a storage deleted, emptied or pointing at another
study is exit 2 with nothing changed instead of a study started afresh that re-proposes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from optlab.config.loading import ConfigError, Problem
from optlab.record.rundir import RunDir
from optlab.studies import optuna_parts as parts


def storage_url(manifest: dict, path: Path, given: str | None) -> str:
    """The study's storage: ``--storage`` if given, else the sweep's study.db or the URL it recorded
    (a URL whose password was masked in sweep.json must be given again)."""
    url = manifest["storage"]
    if given:
        return given
    if url == "sqlite:///study.db":
        return f"sqlite:///{(path / 'study.db').resolve()}"
    if "***" in url:
        raise ConfigError([Problem("--storage", "", f"the study is in {url}: give --storage with its password again "
                                                    "(sweep.json does not keep it)")])
    return url


def _asked(manifest: dict) -> list[int]:
    """The Optuna trial numbers sweep.json lists (every trial the driver asked and recorded)."""
    return sorted(e["number"] for e in manifest.get("trials", []) if isinstance(e.get("number"), int))


def _numbers(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:12])) + (f" and {len(numbers) - 12} more" if len(numbers) > 12 else "")


def check_storage_file(manifest: dict, url: str) -> None:
    """Before the storage of a resumed sweep is opened (opening creates a missing SQLite file):
    ConfigError when sweep.json lists trials and the SQLite file holding them is gone or empty."""
    asked = _asked(manifest)
    db = parts.sqlite_file(url)
    if not asked or db is None:
        return
    if not db.is_file() or db.stat().st_size == 0:
        state = "missing" if not db.exists() else ("not a file" if not db.is_file() else "empty")
        raise ConfigError([Problem("--resume", "--storage", f"{db} is {state}, but sweep.json lists {len(asked)} "
                                   f"Optuna trial(s) it must hold (numbers {_numbers(asked)}): resumed, the study "
                                   "would start afresh and re-propose them; put the study's database back "
                                   "(nothing was changed)")])


def check_study(manifest: dict, study, url: str) -> None:
    """ConfigError when the loaded study lacks trials sweep.json lists (a storage emptied, replaced
    or pointing at another study): the numbers it misses and the counts on both sides; or holds
    them with other values than sweep.json recorded (another sweep's study under the same name)."""
    asked = _asked(manifest)
    held = {t.number for t in study.get_trials(deepcopy=False)}
    missing = [n for n in asked if n not in held]
    if missing:
        raise ConfigError([Problem("--resume", "--storage", f"the study {study.study_name!r} in {parts.shown(url)} "
                                   f"holds {len(held)} trial(s), and sweep.json lists {len(asked)}: trial number(s) "
                                   f"{_numbers(missing)} are missing from the storage; give the --storage that holds "
                                   "them (nothing was changed)")])
    stored = {t.number: t.params for t in study.get_trials(deepcopy=False)}
    other = [e["number"] for e in manifest.get("trials", []) if isinstance(e.get("number"), int)
             and stored.get(e["number"]) and stored[e["number"]] != e.get("values")]
    if other:   # the same numbers, other values: another study's trials (a study.db copied over)
        raise ConfigError([Problem("--resume", "--storage", f"the study {study.study_name!r} in {parts.shown(url)} "
                                   f"holds other values than sweep.json for trial number(s) {_numbers(other)}: it is "
                                   "not this sweep's study; give the --storage that holds it (nothing was changed)")])


def open_study(plan, rd: RunDir, url: str, resume: bool, manifest: dict | None = None):
    """Create (or load, resuming) the study of ``plan`` (an optlab.studies.tune.TunePlan: its
    sampler, pruner, seed and study name); ConfigError when the storage cannot be opened or, on
    a resume, does not hold the trials ``manifest`` (sweep.json) lists."""
    optuna = parts.import_optuna()
    if resume and manifest is not None:
        check_storage_file(manifest, url)
    storage = parts.open_storage(url)
    grid = parts.grid_space(plan.params) if plan.sampler == "grid" else None
    pruner = parts.make_pruner(plan.pruner, plan.eval_every, plan.steps)
    name = plan.study_name or rd.path.name
    if resume and manifest is not None and _asked(manifest):
        names = optuna.study.get_all_study_names(storage=storage)
        if name not in names:
            raise ConfigError([Problem("--resume", "--storage", f"{parts.shown(url)} holds no study named {name!r} "
                                       f"(it holds {', '.join(map(repr, names)) or 'none'}), and sweep.json lists "
                                       f"{len(_asked(manifest))} of its trials; give the --storage or --study-name "
                                       "that holds them (nothing was changed)")])
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize",
                                    sampler=parts.make_sampler(plan.sampler, plan.seed, grid), pruner=pruner,
                                    load_if_exists=resume or plan.study_name is not None)
    except optuna.exceptions.DuplicatedStudyError:
        raise ConfigError([Problem("--storage", "", f"{parts.shown(url)} already holds a study named "
                                                    f"{name!r}")]) from None
    if resume and manifest is not None:
        check_study(manifest, study, url)
    done = len(study.get_trials(deepcopy=False))
    if done:   # a sampler seeded as at the start would propose the first trials' values again
        seed = int(np.random.SeedSequence([plan.seed, done]).generate_state(1)[0])
        study.sampler = parts.make_sampler(plan.sampler, seed, grid)
    return study
