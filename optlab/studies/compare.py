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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optlab.config.loading import ConfigError, Problem
from optlab.config.schema import Config
from optlab.record.rundir import RunDir, question_of
from optlab.record.scores import tune_score
from optlab.studies.executor import ExecutorSpec, Outcome, Progress, reported, run_trials
from optlab.studies.resume import plan_trials
from optlab.studies.study import Study, StudyResult, StudySession, draw_trial_reports
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
# the study
# ------------------------------------------------------------------------------------------------
class CompareStudy(Study):
    """A comparison (optlab.studies.study.Study): ``optlab compare``, compare.json."""

    kind, what, manifest = "compare", "comparison", "compare.json"

    def configs(self, plan: Plan) -> list[Config]:
        return [v.config for v in plan.variants]

    def executor(self, plan: Plan, spec: ExecutorSpec) -> ExecutorSpec:
        """The session's executor; a local pool of one process where every variant is a surface."""
        if spec.kind == "local" and spec.workers is None and not any(v.config.kind.learns_from_data for v in plan.variants):
            return ExecutorSpec("local", 1)   # a surface trial takes milliseconds: worker processes would cost more
        return spec

    def new_manifest(self, plan: Plan, session: StudySession) -> dict:
        return {
            "name": plan.base.name, **plan.source, "question": question_of(plan.source.get("config")),
            "command": list(session.command), "varied": plan.varied,
            "seeds": plan.seeds, "target": plan.target,
            "tune": None if plan.grid is None and plan.around is None else {
                "param": "lr", "grid": plan.grid, "around": plan.around, "seed": plan.base.seed,
                "selection": "final validation accuracy (ties: lower final validation loss); "
                             "final training loss without validation data"},
            "variants": [{"label": v.label, "overrides": list(v.overrides), "lr": _lr(v.config),
                          "tune_trials": [], "trials": []} for v in plan.variants],
        }

    def load(self, path: Path) -> tuple[Plan, dict]:
        """The plan of the comparison in ``path``, rebuilt from compare.json and its config.yaml (the
        base config resolved; each variant's overrides re-applied to it give the variant's config)."""
        from optlab.config.loading import load_config

        rd = RunDir(path)
        manifest = self.read_manifest(rd.path)
        base = load_config(rd.path / "config.yaml")
        variants = [Variant(e["label"], tuple(e["overrides"]), load_config(rd.path / "config.yaml", e["overrides"]))
                    for e in manifest["variants"]]
        tune = manifest.get("tune")
        source = {k: manifest[k] for k in ("config", "overrides") if k in manifest}
        plan = Plan(base, manifest["varied"], variants, list(manifest["seeds"]), manifest.get("target"),
                    None if tune is None or tune["grid"] is None else list(tune["grid"]), source,
                    None if tune is None else tune.get("around"))
        return plan, manifest

    def conduct(self, plan: Plan, rd: RunDir, manifest: dict, ex, session: StudySession) -> StudyResult:
        """The tuning phase (if asked), the chosen rates, the final phase over the seeds, the report."""
        from optlab.record import compare_report
        from optlab.record.figures import import_plotting

        names: list[str] = []
        with reported(rd, self.manifest, manifest, compare_report.render_compare):
            rates = [_lr(v.config) for v in plan.variants]
            if plan.grid is not None or plan.around is not None:
                specs = self._tuning_specs(plan, manifest, session.progress)
                rd.write_json(self.manifest, manifest)
                _phase(specs, rd, ex, session, None)
                names += [name for _, name, _ in specs]
                for i, entry in enumerate(manifest["variants"]):
                    tuned = entry["tune_trials"]
                    rates[i] = entry["lr"] = choose_rate([t["lr"] for t in tuned], [rd.path / t["dir"] for t in tuned])
            else:
                rates = [None] * len(plan.variants)
            specs = self._final_specs(plan, manifest, rates, session.progress)
            rd.write_json(self.manifest, manifest)
            outcomes = _phase(specs, rd, ex, session, import_plotting)
            names += [name for _, name, _ in specs]
            if outcomes and all(o.status in ("failed", "not started") for o in outcomes):
                manifest["status"] = "failed"     # no trial has a result: the comparison did not complete
        result = StudyResult(rd.path, manifest["status"], [o for o in outcomes if o.status != "completed"], names)
        draw_trial_reports(result, session)
        return result

    @staticmethod
    def _tuning_specs(plan: Plan, manifest: dict, progress: Progress) -> list:
        """Each variant's tuning trials, ``(group, dir, config)``, listed in ``manifest``."""
        slugs = unique_slugs([v.label for v in plan.variants])
        specs = []
        for i, v in enumerate(plan.variants):
            grid = rates_of(plan, v.config)
            group = progress.add_group(f"tune {v.label}", len(grid))
            manifest["variants"][i]["tune_trials"] = []
            for lr in grid:
                name = f"tune/{slugs[i]}-lr{lr:.3g}"
                manifest["variants"][i]["tune_trials"].append({"lr": lr, "dir": name})
                specs.append((group, name, with_changes(v.config, plan.base.seed, lr)))
        return specs

    @staticmethod
    def _final_specs(plan: Plan, manifest: dict, rates: list, progress: Progress) -> list:
        """Every variant's trial for every seed at its rate (None: its config's), listed in ``manifest``."""
        slugs = unique_slugs([v.label for v in plan.variants])
        groups = [progress.add_group(v.label, len(plan.seeds)) for v in plan.variants]
        for entry in manifest["variants"]:
            entry["trials"] = []
        # the dearest variants first within a seed (longest-processing-time-first): the workers'
        # last trials are then the short ones and finish close together
        order = sorted(range(len(plan.variants)), key=lambda i: -expected_cost(plan.variants[i].config))
        specs = []
        for seed in plan.seeds:             # seed-major: an interrupted comparison has every variant
            for i in order:
                name = f"trials/{slugs[i]}-s{seed}"
                manifest["variants"][i]["trials"].append(name)
                specs.append((groups[i], name, with_changes(plan.variants[i].config, seed, rates[i])))
        return specs


STUDY = CompareStudy()
run_compare = STUDY.run          # (plan, runs_root, session=None) -> StudyResult
resume_compare = STUDY.resume    # (path, plan=None, session=None) -> StudyResult
load_plan = STUDY.load


def _phase(specs: list, rd: RunDir, ex, session: StudySession, prepare) -> list[Outcome]:
    """Run what is left of one phase's trials (all of them in a new comparison); every outcome."""
    todo, done = plan_trials(rd.path, specs)
    order = {name: k for k, (_, name, _) in enumerate(specs)}
    for o in done:   # already finished (a resumed comparison): full bars
        session.progress.update(specs[order[o.dir_name]][0], o.index, 1.0)
    outcomes = run_trials(todo, rd.path, executor=ex, progress=session.progress, command=list(session.command),
                          prepare=prepare)
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
