"""Adaptive sweeps: Optuna's samplers and pruners driving optlab's own trials.

``optlab sweep CONFIG KEY=SPEC ... --sampler tpe|random|qmc|grid --pruner none|median|asha|hyperband
--trials N`` runs the same trials as a random sweep (optlab.studies.sweep: the same specs, run
directories ``trials/tNNN/``, progress, leaderboard and figures), but the values come from an
Optuna study through its ask-and-tell interface: the driver asks the study for a trial, suggests
each parameter (optlab.studies.optuna_parts.suggest: ``log:`` a log-uniform float, ``lin:`` a
uniform float, ``int:`` an integer, a list a categorical), trains it with optlab.studies.executor,
and tells the study the final validation accuracy (maximised). A diverged trial is told 0 (never
the best: the sampler learns to avoid it), a failed one FAIL, a pruned one PRUNED.

Trials are asked a wave at a time, as many as the executor has slots (a local pool's workers, a
Dask cluster's; optlab.studies.executor), and the next wave is asked when the wave has been told:
with one worker a sweep is sequential and reproducible (a seeded sampler, trials told in order);
with more, a wave's trials are proposed without each other's results, as with Optuna's own
parallel workers. ``--async`` asks a trial whenever a slot is free instead (no worker waits for a
wave's longest trial; the proposals then depend on which trial ends first):
optlab.studies.tune_drive.

Pruning (optlab.studies.optuna_parts.Pruning) runs on the driver, from the evaluation rows the
executor delivers: each validation accuracy is reported to the trial (``Trial.report``), the
pruner asked (``Trial.should_prune``), and a condemned trial asked to stop (``TrialControl.stop``);
the trial, which waits for the verdict on each evaluation (optlab.studies.trial_work), stops at
the step of the evaluation that condemned it, with a checkpoint, and the sweep marks its run
directory ``pruned`` (meta.json, summary.json, with ``pruned_at``, the step of that evaluation). A
trial whose verdict came with its last evaluation ran every step: it is ``completed``.

The study lives in Optuna's own storage: ``study.db`` (SQLite through Optuna's RDB storage) in
the sweep directory, or ``--storage URL`` (a database server; sweep.json keeps it without its
password). Several drivers share one study with the same ``--storage`` and ``--study-name``:
each runs its ``--trials`` into its own sweep directory, and the sampler and pruner see them all. ``--resume
DIR`` continues it: trials that a Ctrl-C left running are continued from their checkpoints as
the same Optuna trials (optlab.studies.resume; a trial never started is started), then the study
asks new ones until it has ``--trials`` trials. A study that already holds trials (resumed, or
joined) gets its sampler seeded from ``--seed`` and its number of trials: seeded as at the start,
it would propose the first trials' values again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from optlab.config.loading import ConfigError, Problem, dump_config, load_config
from optlab.config.schema import Config
from optlab.record.rundir import RunDir, question_of
from optlab.record.status import owner
from optlab.config.safe_yaml import read_text
from optlab.studies import optuna_parts as parts
from optlab.studies import source
from optlab.studies.executor import open_executor
from optlab.studies.resume import study_lock
from optlab.studies.study import Study, StudyResult, StudySession, draw_trial_reports
from optlab.studies.sweep import STUDY as SWEEP
from optlab.studies.sweep import MAX_TRIALS, Param, _validation_problems, end_problems, parse_words
from optlab.studies.tune_drive import drive
from optlab.studies.tune_storage import open_study, storage_url

MIN_EVALS = 3   # evaluations before the end that a rung-based pruner needs to prune more than once


@dataclass
class TunePlan:
    config_path: Path
    base: Config
    params: list[Param]
    fixed: list[str]
    words: list[str]                 # as given: what --resume compares
    seed: int
    trials: int
    sampler: str
    pruner: str
    storage: str | None              # None: study.db in the sweep directory
    study_name: str | None = None    # join this study of the storage (several drivers); None: the sweep's name
    eval_every: int = 0
    steps: int = 0
    warnings: list[str] = field(default_factory=list)
    asynchronous: bool = False       # ask a trial as soon as a slot is free, not in waves (optlab.studies.tune_drive)


def make_tune_plan(config_path: Path, words: list[str], *, trials: int | None, sampler: str = "tpe",
                   pruner: str = "none", seed: int | None = None, storage: str | None = None,
                   study_name: str | None = None, asynchronous: bool = False, base_dir: Path | None = None) -> TunePlan:
    """Check names, specs, trial count, every spec's ends and the pruner's evaluations; ConfigError.
    ``base_dir``: what relative paths in the config are relative to (load_config's)."""
    problems = parts.check_name("sampler", sampler, parts.SAMPLERS) + parts.check_name("pruner", pruner, parts.PRUNERS)
    grid = sampler == "grid"
    if trials is None and not grid:
        problems.append(Problem("--trials", "", f"--sampler {sampler} needs --trials N"))
    if trials is not None and not 1 <= trials <= MAX_TRIALS:
        problems.append(Problem("--trials", "", f"between 1 and {MAX_TRIALS}, got {trials}"))
    params, fixed = parse_words(words, grid, problems)
    if problems:
        raise ConfigError(problems)
    base = load_config(Path(config_path), fixed, base_dir)
    problems += _validation_problems(base)
    names = next((p.choices for p in params if p.key == "optimizer.name"), [base.optimizer.name])
    for p in params:                                # each spec's ends, with an optimizer that takes it
        owner = next((n for n in names if parts.active(p, {"optimizer.name": n})), None)
        if owner is None:
            problems.append(Problem(f"sweep '{p.key}={p.spec}'", p.key, f"no optimizer searched has this setting "
                                    f"({', '.join(map(str, names))})"))
            continue
        extra = [f"optimizer.name={owner}"] if p.key.startswith("optimizer.") and p.key != "optimizer.name" else []
        problems += end_problems(Path(config_path), [*fixed, *extra], p, base_dir)
    if grid and not problems:
        size = math.prod(len(p.grid()) for p in params)
        trials = size if trials is None else trials
    if problems:
        raise ConfigError(problems)
    plan = TunePlan(Path(config_path), base, params, fixed, list(words), base.seed if seed is None else seed,
                    int(trials), sampler, pruner, storage, study_name, asynchronous=asynchronous)
    if sampler == "qmc":
        parts.make_sampler("qmc", 0)        # MissingExtra now (exit 2), not at the first trial
    if pruner != "none":
        _check_pruning(plan)
    if storage is not None:
        if parts.in_memory(storage):
            raise ConfigError([Problem("--storage", "", f"{storage!r} keeps the study in memory: it is gone when the "
                                       "sweep ends, and --resume would re-propose and re-train its first trials. "
                                       "Leave --storage out (study.db in the sweep directory) or give a file or "
                                       "server, e.g. sqlite:///study.db")])
        parts.open_storage(storage)         # exit 2 now, not after the sweep directory exists
    return plan


def _check_pruning(plan: TunePlan) -> None:
    """A pruner decides at evaluations: it needs some before the last step (exit 2 without any)."""
    from optlab.training.setup import build_setup, total_steps

    base = plan.base
    if not base.kind.checkpoints:
        raise ConfigError([Problem("--pruner", "search.strategy", "pruning stops a gradient run between its "
                                   f"evaluations; a {base.kind} run has none to stop")])
    steps, per_epoch = total_steps(base, len(build_setup(base).data.train))
    every = base.train.eval_every or per_epoch
    before_end = (steps - 1) // every
    plan.eval_every, plan.steps = every, steps
    if before_end == 0:
        raise ConfigError([Problem("--pruner", "train.eval_every", f"every {every} steps over a {steps}-step run "
                                   f"evaluates only at the end, so --pruner {plan.pruner} cannot stop anything; "
                                   f"give e.g. train.eval_every={max(1, steps // 10)}")])
    if before_end < MIN_EVALS:
        plan.warnings.append(f"train.eval_every={every} over {steps} steps gives {before_end} evaluation(s) before "
                             f"the end: --pruner {plan.pruner} can stop a trial only there; "
                             f"train.eval_every={max(1, steps // 10)} gives it 9")


# ------------------------------------------------------------------------------------------------
# the study
# ------------------------------------------------------------------------------------------------
def _manifest(plan: TunePlan, rd: RunDir, url: str, command: list[str]) -> dict:
    return {
        "name": plan.base.name, "config": str(plan.config_path), "question": question_of(plan.config_path),
        "command": command, "mode": "optuna",
        "sampler": plan.sampler, "pruner": plan.pruner, "asynchronous": plan.asynchronous, "seed": plan.seed,
        "training_seed": plan.base.seed,
        "words": plan.words, "fixed": plan.fixed, "target_trials": plan.trials,
        "storage": parts.shown(url) if plan.storage else "sqlite:///study.db",
        "study_name": plan.study_name or rd.path.name,
        "params": [{"key": p.key, "kind": p.kind, "spec": p.spec, "log": p.log} for p in plan.params],
        "trials": [], "status": "running",
    }


def check_resume(plan: TunePlan, manifest: dict) -> None:
    """ConfigError when ``plan`` searches something else than the sweep it would resume."""
    if manifest.get("mode") != "optuna":
        raise ConfigError([Problem("--resume", "", f"a {manifest.get('mode')} sweep has no study to continue")])
    was = {p["key"]: p["spec"] for p in manifest["params"]}
    now = {p.key: p.spec for p in plan.params}
    differ = [f"{k}: {was.get(k, 'not searched')} -> {now.get(k, 'not searched')}"
              for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k)]
    if sorted(manifest["fixed"]) != sorted(plan.fixed):
        differ.append(f"fixed overrides: {manifest['fixed']} -> {plan.fixed}")
    for name in ("sampler", "pruner", "seed"):
        if manifest[name] != getattr(plan, name):
            differ.append(f"--{name}: {manifest[name]} -> {getattr(plan, name)}")
    if differ:
        raise ConfigError([Problem("--resume", "", "this sweep searched something else: " + "; ".join(differ))])


class TuneStudy(Study):
    """An Optuna sweep (optlab.studies.study.Study): ``optlab sweep --sampler ...``, sweep.json with
    mode ``optuna``. Its plan comes from the command's options, on a resume filled in from what
    sweep.json recorded; its study from its storage, opened before any trial (exit 2 if it
    does not hold the trials sweep.json lists)."""

    kind, what, manifest = SWEEP.kind, SWEEP.what, SWEEP.manifest   # to its user, a sweep

    def claims(self, manifest: dict) -> bool:
        return manifest.get("mode") == "optuna"

    def configs(self, plan: TunePlan) -> list[Config]:
        return [plan.base]

    def keep_files(self, plan: TunePlan, rd: RunDir) -> dict:
        return source.keep(rd, plan.config_path)    # what every trial is built from, on --resume too

    def new_plan(self, given: dict) -> TunePlan:
        """The plan of a new Optuna sweep from the command's options (keys as in ``resume_plan``)."""
        parts.import_optuna()
        _check_options(given)
        if given.get("CONFIG") is None:
            raise ConfigError([Problem("CONFIG", "", "give the config every trial starts from (or --resume DIR)")])
        return _make_plan(given)

    def resume_plan(self, path: Path, given: dict) -> TunePlan:
        """The options given (``CONFIG``, ``KEY=SPEC``, ``--trials``, ``--sampler``, ...), what
        sweep.json recorded filling in the rest; ConfigError when they search something else
        than it did."""
        from optlab.config.recipes import resolve

        parts.import_optuna()
        was = self.read_manifest(path)
        _check_options(given)
        storage_url(was, path, given.get("--storage"))    # a masked password must be given again: exit 2 now
        recorded = {"CONFIG": Path(was["config"]), "KEY=SPEC": was["words"], "--trials": was["target_trials"],
                    "--seed": was["seed"], "--sampler": was["sampler"], "--pruner": was["pruner"],
                    "--study-name": was["study_name"], "--async/--waves": was.get("asynchronous", False)}
        options = {**recorded, **{k: v for k, v in given.items() if v is not None and v != []}}
        kept = source.kept(path)
        if kept is None:     # a sweep from before sweeps kept their source: its config file
            plan = _make_plan({**options, "CONFIG": resolve(options["CONFIG"]).path})
        else:                # the config the sweep began with, whatever became of the file since
            if given.get("CONFIG") is not None and read_text(resolve(given["CONFIG"]).path) != read_text(kept):
                raise ConfigError([Problem("--resume", "CONFIG", f"{given['CONFIG']} is not the config this sweep "
                                           f"began with ({kept}): its trials are all built from that one; give no "
                                           "CONFIG with --resume")])
            plan = _make_plan({**options, "CONFIG": kept}, base_dir=Path(was["source_dir"]))
        check_resume(plan, was)
        return plan

    def run(self, plan: TunePlan, runs_root: Path, session: StudySession | None = None) -> StudyResult:
        """Run the Optuna sweep of ``plan`` in a new directory; render the leaderboard as a sweep does."""
        session = session or StudySession()
        with open_executor(session.executor) as ex:
            rd = RunDir.create(runs_root, f"{plan.base.name}-sweep")
            with study_lock(rd.path):
                manifest = {**_manifest(plan, rd, plan.storage or "", list(session.command)),
                            **self.keep_files(plan, rd), **owner()}   # pid, host: a killed sweep reads as died
                url = storage_url(manifest, rd.path, plan.storage)
                try:
                    study = open_study(plan, rd, url, False)
                except ConfigError:             # nothing ran: leave no empty sweep directory behind
                    for leftover in rd.path.iterdir():
                        leftover.unlink()
                    rd.path.rmdir()
                    raise
                return self.conduct(plan, rd, manifest, (study, ex), session)

    def resume(self, path: Path, plan: TunePlan | None = None, session: StudySession | None = None) -> StudyResult:
        """Continue the Optuna sweep in ``path`` with ``plan`` (``resume_plan``): its interrupted
        trials first, then new ones until the study has ``plan.trials``."""
        session = session or StudySession()
        rd = RunDir(Path(path))
        with study_lock(rd.path):       # one driver per study, before anything is read or written
            manifest = self.read_manifest(rd.path)
            plan = plan or self.resume_plan(rd.path, {})
            check_resume(plan, manifest)
            url = storage_url(manifest, rd.path, plan.storage)
            study = open_study(plan, rd, url, True, manifest)     # the storage matches sweep.json, or exit 2
            with open_executor(session.executor) as ex:
                manifest.setdefault("resumed", []).append({"command": list(session.command),
                                                           "previous_status": manifest["status"]})
                manifest.update(target_trials=plan.trials, asynchronous=plan.asynchronous, status="running", **owner())
                return self.conduct(plan, rd, manifest, (study, ex), session)

    def conduct(self, plan: TunePlan, rd: RunDir, manifest: dict, opened, session: StudySession) -> StudyResult:
        """The study's trials (optlab.studies.tune_drive), then the leaderboard and the trials' figures."""
        study, ex = opened
        rd.write_text("config.yaml", dump_config(plan.base))
        rd.write_json(self.manifest, manifest)
        failed = drive(plan, rd, manifest, study, ex, session, asynchronous=plan.asynchronous)
        result = StudyResult(rd.path, "completed", failed, [e["dir"] for e in manifest["trials"] if e.get("dir")])
        draw_trial_reports(result, session)
        return result

    def finished(self, path: Path, manifest: dict, target_trials: int | None) -> int | None:
        """Complete, with its target of trials (``target_trials`` or sweep.json's) and none left running."""
        entries = manifest.get("trials", [])
        target = target_trials or manifest.get("target_trials", 0)
        busy = any(e.get("status") in ("running", "interrupted") for e in entries)
        return len(entries) if manifest.get("status") == "completed" and not busy and len(entries) >= target else None


def _check_options(given: dict) -> None:
    if given.get("--grid"):
        raise ConfigError([Problem("--grid", "", "with --sampler, ask for a grid as --sampler grid")])
    if given.get("--study-name") is not None and given.get("--storage") is None:
        raise ConfigError([Problem("--study-name", "", "joins a study of a shared --storage; give --storage URL")])


def _make_plan(options: dict, base_dir: Path | None = None) -> TunePlan:
    """:func:`make_tune_plan` of the command's options (keys as ``optlab sweep`` names them)."""
    return make_tune_plan(options["CONFIG"], options.get("KEY=SPEC") or [], trials=options.get("--trials"),
                          sampler=options.get("--sampler") or "tpe", pruner=options.get("--pruner") or "none",
                          seed=options.get("--seed"), storage=options.get("--storage"),
                          study_name=options.get("--study-name"), asynchronous=bool(options.get("--async/--waves")),
                          base_dir=base_dir)


STUDY = TuneStudy()
run_tune = STUDY.run             # (plan, runs_root, session=None) -> StudyResult
