"""Comparisons: variants of one experiment trained side by side over seeds, optionally after a
learning-rate search, each trial a complete run directory.

Fair by construction (docs/conventions.md, "Randomness"; optlab.engine.rng): within a seed every variant
draws the same initial weights ("init" stream) and the same mini-batch order ("batches"),
because those streams depend on the seed alone. ``--seeds N`` uses the config's seed and the
N - 1 after it.

``--tune lr`` follows DeepOBS (Schneider et al. 2019): for every variant a log grid of learning
rates, each trained once with the config's seed (an equal budget per variant: the same number of
rates), by default around the variant's own rate (its config's or its optimizer's default: Lion's
is 10x below Adam's, Schedule-Free SGD's 100x above SGD's), ``--lr-grid LOW:HIGH:N`` one grid for all; the rate
picked by validation (final validation accuracy, ties to the lower final validation loss; the
final training loss where there is no validation set, e.g. a surface), then that rate re-run
over the seeds.

Layout of ``<runs>/<date>_<time>_<name>-compare/`` (written through optlab.record.rundir):
``compare.json`` (the plan: variants, their overrides, seeds, trial directories, the chosen
rates), ``config.yaml`` (the base config), ``trials/<variant>-s<seed>/`` and
``tune/<variant>-lr<rate>/`` (run directories exactly as ``optlab train`` writes them), and the
plots and tables of optlab.record.compare_report.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optlab.config.loading import ConfigError, Problem, dump_config
from optlab.config.schema import Config
from optlab.record.rundir import RunDir, question_of
from optlab.record.scores import tune_score
from optlab.record.status import owner
from optlab.studies.executor import (
    ExecutorSpec,
    NullProgress,
    Outcome,
    Progress,
    default_workers,
    open_executor,
    reported,
    run_trials,
)
from optlab.studies.resume import contained, plan_trials, study_lock
from optlab.studies.variants import Variant

TUNABLE = ("lr",)
DEFAULT_GRID = "1e-4:1:9"   # 1e-4 ... 1, two points per decade: the DLFS defaults lie on it
# Without --grid: each variant's own rate times 10^-2 ... 10^2, two points per decade (9 rates, as
# DEFAULT_GRID), so rules whose rates differ by decades (Lion, Schedule-Free) get the same search.
AROUND = {"factor": 100.0, "points": 9}


@dataclass
class Plan:
    """Everything a comparison will run, decided (and validated) before anything runs."""

    base: Config
    varied: str                      # "optimizer" or the config key compared
    variants: list[Variant]
    seeds: list[int]
    target: float | None = None      # validation accuracy to reach (fraction)
    grid: list[float] | None = None  # learning rates searched by every variant (--grid), or None
    source: dict = field(default_factory=dict)   # config path and overrides, for the record
    around: dict | None = None       # else when tuning: AROUND, a grid about each variant's own rate


def parse_grid(text: str) -> list[float]:
    """``LOW:HIGH:N`` -> N rates evenly spaced in log between LOW and HIGH (both included)."""
    parts = text.split(":")
    try:
        low, high, n = float(parts[0]), float(parts[1]), int(parts[2])
        ok = len(parts) == 3 and 0 < low < high and math.isfinite(high) and 2 <= n <= 50
    except (ValueError, IndexError):
        ok = False
    if not ok:
        raise ConfigError([Problem("--lr-grid", "", f"expected LOW:HIGH:N with 0 < LOW < HIGH and 2 <= N <= 50, "
                                                 f"e.g. {DEFAULT_GRID}; got {text!r}")])
    grid = [float(v) for v in np.geomspace(low, high, n)]
    if len({f"{lr:.3g}" for lr in grid}) < n:   # the tables and directory names show 3 digits
        raise ConfigError([Problem("--lr-grid", "", f"{n} rates between {low:g} and {high:g} cannot be told apart "
                                                 "at 3 significant digits; use fewer or a wider range")])
    return grid


def make_plan(variants: list[Variant], base: Config, varied: str, *, seeds: int = 1,
              target: float | None = None, tune: str | None = None, grid: str | None = None,
              source: dict | None = None) -> Plan:
    """Check the comparison's options against its variants; ConfigError on bad input."""
    problems = []
    if seeds < 1:
        problems.append(Problem("--seeds", "", f"needs at least one seed, got {seeds}"))
    if target is not None and not 0 < target <= 1:
        problems.append(Problem("--target", "", f"a validation accuracy as a fraction in (0, 1], e.g. 0.97; got {target:g}"))
    lr_grid = around = None
    if tune is not None:
        if tune not in TUNABLE:
            problems.append(Problem("--tune", "", f"can search: {', '.join(TUNABLE)}; got {tune!r}"))
        else:
            try:
                lr_grid = None if grid is None else parse_grid(grid)
            except ConfigError as exc:
                problems += exc.problems
            around = dict(AROUND) if grid is None else None
            if varied == "optimizer.lr":
                problems.append(Problem("--tune", "", "--tune lr searches the rate that --vary optimizer.lr sets"))
            setters: dict[str, list[str]] = {}   # an override that sets the rate -> variants with it
            for v in variants:
                for text in v.overrides:
                    if text.split("=", 1)[0].strip() == "optimizer.lr":
                        setters.setdefault(text, []).append(v.label)
            for text, labels in setters.items():
                where = f"override {text!r}" if len(labels) == len(variants) > 1 else f"variant {labels[0]!r}"
                problems.append(Problem(where, "optimizer.lr", "sets the rate that --tune lr searches; drop one"))
    if problems:
        raise ConfigError(problems)
    first = base.seed
    return Plan(base, varied, variants, list(range(first, first + seeds)), target, lr_grid, source or {}, around)


def rates_of(plan: Plan, config: Config) -> list[float]:
    """The learning rates a variant's tuning tries: the plan's grid, or its own rate times
    factor^-1 ... factor in log steps."""
    if plan.grid is not None:
        return list(plan.grid)
    lr, f, n = _lr(config), plan.around["factor"], plan.around["points"]
    return [float(v) for v in np.geomspace(lr / f, lr * f, n)]


def slug(label: str) -> str:
    """A file-name-safe form of a variant label: ``adam:lr=0.003`` -> ``adam_lr_0.003``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "variant"


def unique_slugs(labels: list[str]) -> list[str]:
    """Slugs of distinct labels, numbered where two would collide (``a b`` and ``a_b``)."""
    slugs = [slug(label) for label in labels]
    return [s if slugs.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(slugs)]


def with_changes(config: Config, seed: int, lr: float | None = None) -> Config:
    """The variant's config for one trial: its seed and, when tuned, its learning rate. The
    config's ``compare`` section is left out: a trial is one run, and its config.yaml states what
    ran, not the settings of variants it is not (those are in compare.json)."""
    raw = config.model_dump()
    raw.pop("compare", None)
    raw["seed"] = seed
    if lr is not None:
        raw["optimizer"]["lr"] = lr
    return Config.model_validate(raw)


# ------------------------------------------------------------------------------------------------
# learning-rate selection, from the tuning trials' files
# ------------------------------------------------------------------------------------------------
def choose_rate(rates: list[float], run_dirs: list[Path]) -> float:
    """The rate whose tuning run scores best; on a tie, the smaller rate (the safer one)."""
    scores = [tune_score(d) for d in run_dirs]
    best = max(range(len(rates)), key=lambda i: (scores[i], -rates[i]))
    return rates[best]


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
@dataclass
class CompareResult:
    path: Path
    status: str                       # completed | failed (every trial failed)
    failed: list[Outcome]             # final-phase trials that diverged or failed
    trial_dirs: list[str] = field(default_factory=list)   # every trial's directory


def run_compare(plan: Plan, runs_root: Path, *, workers: int | None = None, progress: Progress | None = None,
                command: list[str] | None = None, executor: ExecutorSpec | None = None,
                trial_reports: bool = True) -> CompareResult:
    """Run every trial of ``plan`` (tuning first, if asked) and render the comparison.

    ``executor``: where trials run (optlab.studies.executor; default a local pool of ``workers``
    processes: the number of cores, or 1 when every variant is a surface). The executor is
    started (or its cluster checked) before the comparison's directory is made. ``trial_reports``:
    draw each trial's own figures at the end (False: the caller does, with
    optlab.record.trial_reports.render_trial_reports over ``trial_dirs``, e.g. after showing the results).
    """
    command = list(command if command is not None else sys.argv)
    spec = _spec(executor, workers, plan)
    with open_executor(spec) as ex:
        rd = RunDir.create(runs_root, f"{plan.base.name}-compare")
        with study_lock(rd.path):   # one driver per study (optlab.studies.resume.study_lock)
            rd.write_text("config.yaml", dump_config(plan.base))
            manifest = {
                "name": plan.base.name, **plan.source, "question": question_of(plan.source.get("config")),
                "command": command, "varied": plan.varied,
                "seeds": plan.seeds, "target": plan.target,
                "tune": None if plan.grid is None and plan.around is None else {
                    "param": "lr", "grid": plan.grid, "around": plan.around, "seed": plan.base.seed,
                    "selection": "final validation accuracy (ties: lower final validation loss); "
                                 "final training loss without validation data"},
                "variants": [{"label": v.label, "overrides": list(v.overrides), "lr": _lr(v.config),
                              "tune_trials": [], "trials": []} for v in plan.variants],
                # pid, host: a killed comparison reads as died (record.status.study_status)
                "status": "running", **owner(),
            }
            return _run(plan, rd, manifest, ex, progress or NullProgress(), command, trial_reports)


def resume_compare(path: Path, *, workers: int | None = None, progress: Progress | None = None,
                   command: list[str] | None = None, executor: ExecutorSpec | None = None,
                   trial_reports: bool = True) -> CompareResult:
    """Finish the comparison in ``path``: keep its finished trials, continue interrupted ones from
    their checkpoints, start the missing ones (optlab.studies.resume), then render it."""
    command = list(command if command is not None else sys.argv)
    rd = RunDir(Path(path))
    if not (rd.path / "compare.json").is_file():
        raise ConfigError([Problem("--resume", "", f"{rd.path}: not a comparison (no compare.json)")])
    with study_lock(rd.path):       # one driver per study, before anything is read or written
        plan, manifest = load_plan(rd.path)
        with open_executor(_spec(executor, workers, plan)) as ex:
            manifest.setdefault("resumed", []).append({"command": command, "previous_status": manifest["status"]})
            manifest.update(status="running", **owner())
            return _run(plan, rd, manifest, ex, progress or NullProgress(), command, trial_reports)


def load_plan(path: Path) -> tuple[Plan, dict]:
    """The plan of the comparison in ``path``, rebuilt from compare.json and its config.yaml (the
    base config resolved; each variant's overrides re-applied to it give the variant's config)."""
    from optlab.config.loading import load_config

    rd = RunDir(path)
    if not (rd.path / "compare.json").is_file():
        raise ConfigError([Problem("--resume", "", f"{rd.path}: not a comparison (no compare.json)")])
    manifest = rd.read_json("compare.json")
    contained(rd.path, manifest, "compare.json")
    base = load_config(rd.path / "config.yaml")
    variants = [Variant(e["label"], tuple(e["overrides"]), load_config(rd.path / "config.yaml", e["overrides"]))
                for e in manifest["variants"]]
    tune = manifest.get("tune")
    seeds = manifest["seeds"]
    source = {k: manifest[k] for k in ("config", "overrides") if k in manifest}
    plan = Plan(base, manifest["varied"], variants, list(seeds), manifest.get("target"),
                None if tune is None or tune["grid"] is None else list(tune["grid"]), source,
                None if tune is None else tune.get("around"))
    return plan, manifest


def _spec(executor: ExecutorSpec | None, workers: int | None, plan: Plan) -> ExecutorSpec:
    spec = executor or ExecutorSpec("local", workers)
    if spec.kind == "local" and spec.workers is None and not any(v.config.kind.learns_from_data for v in plan.variants):
        return ExecutorSpec("local", 1)   # a surface trial takes milliseconds: worker processes would cost more
    return spec


def _run(plan: Plan, rd: RunDir, manifest: dict, ex, progress: Progress, command: list[str],
         trial_reports: bool) -> CompareResult:
    from optlab.record import compare_report
    from optlab.record.figures import import_plotting
    from optlab.record.trial_reports import render_trial_reports

    rates = [_lr(v.config) for v in plan.variants]
    slugs = unique_slugs([v.label for v in plan.variants])
    names: list[str] = []
    with reported(rd, "compare.json", manifest, compare_report.render_compare):
        tuning = plan.grid is not None or plan.around is not None
        if tuning:
            specs = []
            for i, v in enumerate(plan.variants):
                grid = rates_of(plan, v.config)
                group = progress.add_group(f"tune {v.label}", len(grid))
                manifest["variants"][i]["tune_trials"] = []
                for lr in grid:
                    name = f"tune/{slugs[i]}-lr{lr:.3g}"
                    manifest["variants"][i]["tune_trials"].append({"lr": lr, "dir": name})
                    specs.append((group, name, with_changes(v.config, plan.base.seed, lr)))
            rd.write_json("compare.json", manifest)
            _phase(specs, rd, ex, progress, command, None)
            names += [name for _, name, _ in specs]
            for i, entry in enumerate(manifest["variants"]):
                tuned = entry["tune_trials"]
                rates[i] = entry["lr"] = choose_rate([t["lr"] for t in tuned], [rd.path / t["dir"] for t in tuned])

        groups = [progress.add_group(v.label, len(plan.seeds)) for v in plan.variants]
        specs = []
        for entry in manifest["variants"]:
            entry["trials"] = []
        # the dearest variants first within a seed (longest-processing-time-first): the workers'
        # last trials are then the short ones and finish close together
        order = sorted(range(len(plan.variants)), key=lambda i: -expected_cost(plan.variants[i].config))
        for seed in plan.seeds:             # seed-major: an interrupted comparison has every variant
            for i in order:
                v = plan.variants[i]
                name = f"trials/{slugs[i]}-s{seed}"
                manifest["variants"][i]["trials"].append(name)
                lr = rates[i] if tuning else None
                specs.append((groups[i], name, with_changes(v.config, seed, lr)))
        rd.write_json("compare.json", manifest)
        outcomes = _phase(specs, rd, ex, progress, command, import_plotting)
        names += [name for _, name, _ in specs]
        if outcomes and all(o.status in ("failed", "not started") for o in outcomes):
            manifest["status"] = "failed"     # no trial has a result: the comparison did not complete
    if trial_reports:   # after the comparison's own figures (optlab.record.trial_reports), on this machine's cores
        render_trial_reports(rd.path, names, workers=default_workers())
    failed = [o for o in outcomes if o.status != "completed"]
    return CompareResult(rd.path, manifest["status"], failed, names)


def _phase(specs: list, rd: RunDir, ex, progress: Progress, command: list[str], prepare) -> list[Outcome]:
    """Run what is left of one phase's trials (all of them in a new comparison); every outcome."""
    todo, done = plan_trials(rd.path, specs)
    order = {name: k for k, (_, name, _) in enumerate(specs)}
    for o in done:   # already finished (a resumed comparison): full bars
        progress.update(specs[order[o.dir_name]][0], o.index, 1.0)
    outcomes = run_trials(todo, rd.path, executor=ex, progress=progress, command=command, prepare=prepare)
    return sorted([*done, *outcomes], key=lambda o: order[o.dir_name])


def expected_cost(config: Config) -> float:
    """A trial's cost relative to the other variants of its comparison, for dispatch order only:
    examples seen (epochs, or iterations x batch) times the optimizer's passes over its state
    (1 + state arrays per parameter: SGD 1, Momentum to RMSprop 2, Adam 3). Rough by design; it
    decides which trial a worker starts first, never a number in a report."""
    from optlab.engine.optimizers import lookup

    train = config.train
    examples = train.epochs if train.iterations is None else train.iterations * train.batch_size
    return float(examples or 1) * (1 + lookup(config.optimizer.name).state_vectors(config.optimizer.model_dump()))


def _lr(config: Config) -> float:
    return float(config.optimizer.lr)
