"""Hyper-parameter sweeps: random or grid search over config keys, each trial a run directory.

The words after the config are ``KEY=SPEC`` (parsed by :func:`parse_param`):

=======================  ==========================================  ================================
SPEC                     random search (``--trials N``)              grid search (``--grid``)
=======================  ==========================================  ================================
``log:LOW:HIGH``         log-uniform: exp(U(ln LOW, ln HIGH))        (give N: ``log:LOW:HIGH:N``)
``log:LOW:HIGH:N``       —                                           N values evenly spaced in log
``lin:LOW:HIGH``         uniform U(LOW, HIGH)                        (give N: ``lin:LOW:HIGH:N``)
``lin:LOW:HIGH:N``       —                                           N values evenly spaced
``int:LOW:HIGH``         an integer, uniform in LOW..HIGH            every integer LOW..HIGH
``A,B,C``                one of the values, uniformly                each value
``VALUE``                the same for every trial (an override)      the same for every trial
=======================  ==========================================  ================================

Values are YAML, as in overrides (``model.hidden=[50],[100,100]`` is a choice of two lists).
Random search follows Bergstra & Bengio (2012) and DLFS ch. 6 (lr = 10^U(-6, -2), weight decay
= 10^U(-8, -4)): each trial draws every parameter independently, in the order given, from the
``sweep`` stream of ``--seed`` (default: the config's seed), trial after trial, so the first k
trials of ``--trials 100`` are the trials of ``--trials k``. Grid search runs the Cartesian
product, the first key varying slowest. Every trial trains with the config's own seed: the same
initial weights and mini-batches, so trials differ only in what is swept.

Before anything runs, every spec's end points or values and then every trial's config are
validated by the config loader (optlab.config.loading), so an impossible value is a ConfigError naming the
spec. Trials run through optlab.studies.executor (compare's machinery: a pool of worker processes, one progress display).

Layout of ``<runs>/<date>_<time>_<name>-sweep/``: ``sweep.json`` (the plan: parameters, each
trial's values and directory, status), ``config.yaml`` (the base config), ``trials/tNNN/`` (run
directories, exactly what ``optlab train`` writes), and the leaderboard and figures of
optlab.record.sweep_report.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from optlab.config.loading import (
    ConfigError,
    Problem,
    load_config,
    parse_override,
    replaces,
    split_override,
    value_text,
)
from optlab.config.schema import Config
from optlab.engine.rng import stream
from optlab.record.rundir import RunDir, question_of
from optlab.studies import source
from optlab.studies.executor import reported, run_trials
from optlab.studies.resume import plan_trials
from optlab.studies.study import Study, StudyResult, StudySession, draw_trial_reports
from optlab.studies.variants import split_values

MAX_TRIALS = 10_000
_RANGE = re.compile(r"^(log|lin|int):([^:]+):([^:]+)(?::([^:]+))?$")
_EXAMPLE = {"log": "log:1e-4:1e-1", "lin": "lin:0.5:0.99", "int": "int:1:4"}


@dataclass
class Param:
    """One swept key: a range (``log``/``lin``/``int``) or a list of choices."""

    key: str
    kind: str                          # log | lin | int | choice
    spec: str                          # as written, for the record
    low: float | None = None
    high: float | None = None
    n: int | None = None               # grid points (log / lin in a grid)
    choices: list[Any] = field(default_factory=list)   # parsed values (choice)
    texts: list[str] = field(default_factory=list)     # their YAML text, as written

    @property
    def log(self) -> bool:
        """Plot on a log axis: a log range, or positive numeric choices spanning two decades."""
        if self.kind == "log":
            return True
        nums = [c for c in self.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        return self.kind == "choice" and len(nums) == len(self.choices) > 1 and min(nums) > 0 and \
            max(nums) / min(nums) >= 100

    def grid(self) -> list[Any]:
        """The values a grid search tries, in order."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        space = np.geomspace if self.kind == "log" else np.linspace
        return [float(v) for v in space(self.low, self.high, self.n)]

    def draw(self, rng: np.random.Generator) -> Any:
        """One value for a random search."""
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high), endpoint=True))
        if self.kind == "log":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def ends(self) -> list[Any]:
        """The values whose validity stands for the whole range: its ends, or every choice."""
        return list(self.choices) if self.kind == "choice" else [self.low, self.high]


def parse_param(word: str, grid: bool) -> Param | tuple[str, str]:
    """``KEY=SPEC`` -> a Param, or ``(key, text)`` for a fixed override; ConfigError if malformed."""
    where = f"sweep {word!r}"
    key, text = split_override(word, where)
    m = _RANGE.match(text)
    kind = text.partition(":")[0]
    if not m and kind in ("log", "lin", "int") and ":" in text:     # a range with a part missing or extra
        example = f"{kind}:LOW:HIGH:N" if grid and kind != "int" else f"{kind}:LOW:HIGH"
        raise ConfigError([Problem(where, key, f"{text!r} is not a range: write {example}, "
                                               f"e.g. {key}={_EXAMPLE[kind]}{':5' if grid and kind != 'int' else ''}")])
    if m:
        kind, low_text, high_text, n_text = m.groups()
        example = f"{kind}:LOW:HIGH:N" if grid and kind != "int" else f"{kind}:LOW:HIGH"
        try:
            low, high = float(low_text), float(high_text)
            n = int(n_text) if n_text is not None else None
        except ValueError:
            raise ConfigError([Problem(where, key, f"expected {example} with numbers, got {text!r}")]) from None
        problems = []
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            problems.append("needs LOW < HIGH, both finite")
        if kind == "log" and not low > 0:
            problems.append("a log range needs 0 < LOW")
        if kind == "int" and (low != int(low) or high != int(high) or n is not None):
            problems.append("int:LOW:HIGH takes two integers and no N (a grid tries every integer)")
        if kind != "int" and grid and n is None:
            problems.append(f"a grid needs the number of points: {kind}:{low_text}:{high_text}:N")
        if kind != "int" and not grid and n is not None:
            problems.append(f"random search draws from the range: drop :{n_text} (or use --grid)")
        if n is not None and not 2 <= n <= 1000:
            problems.append("N must be between 2 and 1000")
        if problems:
            raise ConfigError([Problem(where, key, f"{p}; e.g. {key}={example}") for p in problems])
        return Param(key, kind, text, low, high, n)
    texts = split_values(text)
    if len(texts) == 1:
        parse_override(word)                            # a fixed override: its value must be YAML
        return key, text
    if any(not t for t in texts):
        raise ConfigError([Problem(where, key, "an empty choice; write values separated by commas, e.g. sgd,adam")])
    choices = [parse_override(f"{key}={t}")[1] for t in texts]
    return Param(key, "choice", text, choices=choices, texts=texts)


@dataclass
class Plan:
    """Everything a sweep will run, decided and validated before anything runs."""

    config_path: Path
    base: Config
    mode: str                            # random | grid
    params: list[Param]
    fixed: list[str]                     # KEY=VALUE overrides for every trial
    seed: int                            # of the proposals (random search)
    values: list[dict[str, Any]]         # each trial's value of every param
    configs: list[Config]
    origin: str | None = None            # where the config came from: a path or recipe:NAME (compare.json's "config")


def trial_overrides(params: list[Param], values: dict[str, Any]) -> list[str]:
    """The KEY=VALUE words that give a trial its ``values`` (a choice by the text it was given as);
    a key without a value is left out (an Optuna trial suggests a conditional key only in its branch)."""
    out = []
    for p in params:
        if p.key in values:
            v = values[p.key]
            out.append(f"{p.key}={p.texts[p.choices.index(v)] if p.kind == 'choice' else value_text(v)}")
    return out


def end_problems(config_path: Path, overrides: list[str], p: Param, base_dir: Path | None = None) -> list[Problem]:
    """What is wrong with each of a spec's ends (or choices), each tried alone over ``overrides``.
    A problem found at every end (an unknown key, a key the optimizer lacks) is said once; one
    found at some ends names them (``(at optimizer.lr=-1)``)."""
    ends = p.ends()
    found: dict[tuple[str, str], list[str]] = {}
    for v in ends:
        text = p.texts[p.choices.index(v)] if p.kind == "choice" else value_text(v)
        try:
            load_config(config_path, [*overrides, f"{p.key}={text}"], base_dir)
        except ConfigError as exc:
            for q in exc.problems:
                found.setdefault((q.key, q.message), []).append(f"{p.key}={text}")
    where = f"sweep '{p.key}={p.spec}'"
    return [Problem(where, key, message if len(at) == len(ends) else f"{message} (at {', '.join(at)})")
            for (key, message), at in found.items()]


def parse_words(words: list[str], grid: bool, problems: list[Problem]) -> tuple[list[Param], list[str]]:
    """The sweep's words as (swept params, fixed ``KEY=VALUE`` overrides); what is wrong with them
    goes into ``problems`` (a key swept twice, nothing to sweep), so every problem is said at once."""
    params, fixed = [], []
    for word in words:
        try:
            parsed = parse_param(word, grid)
        except ConfigError as exc:
            problems += exc.problems
            continue
        if isinstance(parsed, Param):
            params.append(parsed)
        else:
            fixed.append(f"{parsed[0]}={parsed[1]}")
    for p in params:    # a swept value is applied after the fixed overrides: it would undo one in silence
        for text in fixed:
            key = parse_override(text)[0]
            if replaces(tuple(p.key.split(".")), key):
                problems.append(Problem(f"sweep '{p.key}={p.spec}'", ".".join(key),
                                        f"replaces override {text!r} in every trial; drop one of them"))
    keys = [p.key for p in params]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        problems.append(Problem("sweep", ", ".join(twice), "swept twice; give each key once"))
    if not params and not problems:
        problems.append(Problem("sweep", "", "nothing to sweep: give KEY=SPEC words, e.g. optimizer.lr=log:1e-4:1e-1"))
    return params, fixed


def make_plan(config_path: Path, words: list[str], *, trials: int | None = None, grid: bool = False,
              seed: int | None = None, origin: str | None = None) -> Plan:
    """Parse the words, draw or enumerate the trials and validate every trial's config."""
    config_path = Path(config_path)
    problems: list[Problem] = []
    if (trials is None) == (not grid):
        problems.append(Problem("--trials / --grid", "", "give --trials N for a random search or --grid for a grid "
                                "search (one of them)"))
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        problems.append(Problem("--trials", "", f"between 1 and {MAX_TRIALS}, got {trials}"))
    params, fixed = parse_words(words, grid, problems)
    if problems:
        raise ConfigError(problems)
    base = load_config(config_path, fixed)                 # the file and the fixed overrides
    problems += _validation_problems(base)

    for p in params:                                       # each spec's ends or values, alone
        problems += end_problems(config_path, fixed, p)
    if problems:
        raise ConfigError(problems)

    seed = base.seed if seed is None else seed
    if grid:
        size = math.prod(len(p.grid()) for p in params)
        if size > MAX_TRIALS:
            raise ConfigError([Problem("--grid", "", f"{size} combinations; at most {MAX_TRIALS}")])
        keys = [p.key for p in params]
        values = [dict(zip(keys, combo)) for combo in itertools.product(*(p.grid() for p in params))]
    else:
        rng = stream(seed, "sweep")
        values = [{p.key: p.draw(rng) for p in params} for _ in range(trials)]

    configs: list[Config] = []
    for i, v in enumerate(values):
        try:
            configs.append(load_config(config_path, [*fixed, *trial_overrides(params, v)]))
        except ConfigError as exc:                         # a combination the ends did not reveal
            problems += [Problem(f"trial {i}", q.key, q.message) for q in exc.problems]
            if len(problems) >= 10:
                break
    if problems:
        raise ConfigError(problems)
    return Plan(config_path, base, "grid" if grid else "random", params, fixed, seed, values, configs, origin)


def _validation_problems(base: Config) -> list[Problem]:
    """A sweep ranks trials by validation accuracy: the config must hold out a validation set
    that is not the test set (tuning on the test set makes its accuracy a tuned number)."""
    data = base.data
    if data is None:
        return [Problem("sweep", "model", "a surface has no validation set to rank trials by")]
    if getattr(data, "val_from", "train") == "test":
        return [Problem("sweep", "data.val_from", "a sweep chooses by validation accuracy; with val_from: test it "
                        "would tune on the test set: hold out a validation set (val_from: train)")]
    val = data.resolved_val_size if hasattr(data, "resolved_val_size") else getattr(data, "val_size", 0)
    if not val:
        return [Problem("sweep", "data.val_size", "a sweep ranks trials by validation accuracy: give a val_size")]
    return []


def trial_dir(index: int, total: int) -> str:
    return f"trials/t{index:0{max(3, len(str(total - 1)))}d}"


class SweepStudy(Study):
    """A random or grid sweep (optlab.studies.study.Study): ``optlab sweep``, sweep.json."""

    kind, what, manifest = "sweep", "sweep", "sweep.json"
    OPTUNA = ("--sampler", "--pruner", "--storage", "--study-name")   # what only an Optuna sweep continues

    def claims(self, manifest: dict) -> bool:
        return manifest.get("mode") != "optuna"

    def configs(self, plan: Plan) -> list[Config]:
        return plan.configs

    def resume_plan(self, path: Path, given: dict) -> Plan:
        """A random or grid sweep continues as it was planned: the CONFIG, KEY=SPEC words and
        options of an Optuna sweep are refused (ConfigError), before its files are read."""
        manifest = self.read_manifest(path)
        if any(given.get(option) for option in self.OPTUNA):
            raise ConfigError([Problem("--resume", "", f"{path} is a {manifest['mode']} sweep, not an Optuna study: "
                                       f"resume it without {' / '.join(self.OPTUNA)}")])
        if given.get("--async/--waves") is not None:
            raise ConfigError([Problem("--resume", "", async_refused(given["--async/--waves"]))])
        if given.get("CONFIG") or given.get("KEY=SPEC"):
            raise ConfigError([Problem("--resume", "", "--resume continues a sweep as it was planned: give no CONFIG "
                                       "or KEY=SPEC with it")])
        return self.load(path)[0]

    def keep_files(self, plan: Plan, rd: RunDir) -> dict:
        return source.keep(rd, plan.config_path)    # what every trial is built from, on --resume too

    def new_manifest(self, plan: Plan, session: StudySession) -> dict:
        n = len(plan.configs)
        return {
            "name": plan.base.name, "config": plan.origin or str(plan.config_path),
            "question": question_of(plan.origin or plan.config_path), "command": list(session.command),
            "mode": plan.mode, "seed": plan.seed, "training_seed": plan.base.seed, "fixed": plan.fixed,
            "params": [{"key": p.key, "kind": p.kind, "spec": p.spec, "log": p.log} for p in plan.params],
            "trials": [{"index": i, "dir": trial_dir(i, n), "values": v} for i, v in enumerate(plan.values)],
        }

    def load(self, path: Path) -> tuple[Plan, dict]:
        """The plan of the sweep in ``path``, from its files alone: each trial's config is the
        sweep's source.yaml with its fixed overrides and the trial's values (optlab.studies.source)."""
        rd = RunDir(path)
        manifest = self.read_manifest(rd.path)
        grid = manifest["mode"] == "grid"
        params = [parse_param(f"{p['key']}={p['spec']}", grid) for p in manifest["params"]]
        values = [t["values"] for t in manifest["trials"]]
        configs = [source.trial_config(rd.path, manifest, manifest["fixed"], trial_overrides(params, v)) for v in values]
        plan = Plan(Path(manifest["config"]), load_config(rd.path / "config.yaml"), manifest["mode"], params, manifest["fixed"],
                    manifest["seed"], values, configs)
        return plan, manifest

    def conduct(self, plan: Plan, rd: RunDir, manifest: dict, ex, session: StudySession) -> StudyResult:
        """What is left of the trials, then the leaderboard and figures (optlab.record.sweep_report)."""
        from optlab.record import sweep_report
        from optlab.record.figures import import_plotting

        n, progress = len(plan.configs), session.progress
        group = progress.add_group(f"{plan.mode} search", n)
        specs = [(group, trial_dir(i, n), cfg) for i, cfg in enumerate(plan.configs)]
        with reported(rd, self.manifest, manifest, sweep_report.render_sweep):
            todo, done = plan_trials(rd.path, specs)
            for o in done:   # already finished (a resumed sweep): a full bar
                progress.update(group, o.index, 1.0)
            outcomes = run_trials(todo, rd.path, executor=ex, progress=progress, command=list(session.command),
                                  prepare=import_plotting)
            if [*done, *outcomes] and all(o.status == "failed" for o in [*done, *outcomes]):
                manifest["status"] = "failed"     # nothing to rank: the sweep did not complete
        result = StudyResult(rd.path, manifest["status"], [o for o in outcomes if o.status == "failed"],
                             [name for _, name, _ in specs])
        draw_trial_reports(result, session)
        return result


def async_refused(asynchronous: bool) -> str:
    """Why ``--async`` (or ``--waves``) is refused outside an Optuna sweep."""
    return (f"--{'async' if asynchronous else 'waves'} orders the asks of an Optuna sweep (--sampler, --pruner); a "
            "random or grid sweep draws every trial before any runs, and its workers never wait for each other")


STUDY = SweepStudy()
run_sweep = STUDY.run            # (plan, runs_root, session=None) -> StudyResult
resume_sweep = STUDY.resume      # (path, plan=None, session=None) -> StudyResult
load_plan = STUDY.load
