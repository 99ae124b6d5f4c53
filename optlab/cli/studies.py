"""``optlab compare`` and ``optlab sweep``: many trials of one experiment, in parallel."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import app
from optlab.cli.common import (
    Executor,
    Format,
    Scheduler,
    TensorBoard,
    bad_input,
    bad_problems,
    optimizer_names,
    output_overrides,
    require_extras,
    say_shadowed,
)
from optlab.cli.study_run import StudyCommand, executor_spec, resume_study, run_study, say_warnings

DEFAULT_COMPARE_CONFIG = "mnist_mlp"    # a recipe (optlab.config.recipes): DLFS ch. 6's network

@app.command()
def compare(
    words: Optional[list[str]] = typer.Argument(
        None, metavar="[OPTIMIZER[:KEY=VALUE,...]]... [KEY=VALUE]...",
        help=f"optimizers to compare — {optimizer_names()}, or yours (`optlab optimizers`) — each optionally "
             "with its settings (adam:lr=0.003), and overrides for all (train.iterations=500)"),
    config: str = typer.Option(DEFAULT_COMPARE_CONFIG, "--config", "-c", metavar="CONFIG",
                               help="a recipe's name or a YAML config file every variant starts from"),
    vary: Optional[str] = typer.Option(
        None, "--vary", metavar="KEY=V1,V2,...", help="compare values of any config key, e.g. model.init=normal,xavier,he"),
    seeds: int = typer.Option(1, "--seeds", min=1, help="seeds per variant: the config's seed and the ones after it; "
                                                        "one seed draws single curves, 2 or more mean ± std bands"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="worker processes",
                                          show_default="the number of cores, 1 for surfaces"),
    tune: Optional[str] = typer.Option(
        None, "--tune", metavar="lr", help="first search each variant's learning rate on a log grid (DeepOBS protocol)"),
    grid: Optional[str] = typer.Option(
        None, "--lr-grid", metavar="LOW:HIGH:N", show_default="9 rates from 1/100 to 100 times each variant's own",
        help="the learning rates --tune lr tries, N evenly spaced in log, the same for every variant (e.g. 1e-4:1:9)"),
    target: Optional[float] = typer.Option(
        None, "--target", help="a validation accuracy (fraction, e.g. 0.97): report the steps each variant needs"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", metavar="DIR", help="where the comparison's directory goes",
        show_default="./runs"),
    fmt: Format = None,
    tensorboard: TensorBoard = False,
    executor: Executor = "local",
    scheduler: Scheduler = None,
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="STUDY_DIR", help="finish a stopped study: keep finished trials, continue the others"),
    trial_figures: bool = typer.Option(
        True, "--trial-figures/--no-trial-figures",
        help="after the results, draw each trial's own figures (optlab report TRIAL_DIR draws them later)"),

    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train variants of one experiment side by side: same initial weights and mini-batches per seed.

    Examples: optlab compare sgd momentum adagrad adam --config quickstart --seeds 3;
    optlab compare --vary model.init=normal,xavier,he; optlab compare sgd adam --tune lr
    """
    cmd = StudyCommand("compare", executor_spec(executor, scheduler, workers), quiet, debug, trial_figures,
                       fmt=fmt, tensorboard=tensorboard)
    if resume is not None:
        resume_study(cmd, resume, {"variants or overrides": words, "--vary": vary, "--tune": tune})
        return
    from optlab.studies.compare import STUDY

    run_study(cmd, STUDY, _compare_plan(config, [*(words or []), *output_overrides(fmt, tensorboard)], vary,
                                        seeds, tune, grid, target), runs_dir)


def _compare_plan(config: str, words: list[str], vary, seeds: int, tune, grid, target):
    """The comparison's variants and plan (optlab.studies.variants, optlab.studies.compare), or exit 2."""
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import resolve
    from optlab.studies.compare import make_plan
    from optlab.studies.variants import build_variants, is_override, own_comparison

    try:
        ref = resolve(config)
        say_shadowed(ref)
        base, varied, variants = build_variants(ref.path, words, vary, own=own_comparison(ref.path))
        plan = make_plan(variants, base, varied, seeds=seeds, target=target, tune=tune, grid=grid,
                         source={"config": ref.origin, "overrides": [w for w in words if is_override(w)]})
        require_extras(base)
    except ConfigError as exc:
        raise bad_problems(exc.problems) from None
    return plan


@app.command()
def sweep(
    config: Optional[str] = typer.Argument(None, metavar="CONFIG", help="a recipe's name or a YAML config every trial "
                                            "starts from", show_default=False),
    words: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=SPEC]...",
        help="what to search: log:LOW:HIGH, lin:LOW:HIGH, int:LOW:HIGH or A,B,C (a grid: log:LOW:HIGH:N, "
             "lin:LOW:HIGH:N); KEY=VALUE sets a key for every trial"),
    trials: Optional[int] = typer.Option(
        None, "--trials", "-n", min=1,
        help="how many trials: a random search draws N; with --sampler, the sampler proposes N "
             "(--sampler grid: the whole grid unless N is given)"),
    grid: bool = typer.Option(False, "--grid", help="grid search: every combination of the values"),
    sampler: Optional[str] = typer.Option(
        None, "--sampler", metavar="tpe|random|qmc|grid",
        help="an Optuna sampler proposes the trials (needs Optuna: pip install -e \".[tune]\" in optlab's clone)"),
    pruner: Optional[str] = typer.Option(
        None, "--pruner", metavar="none|median|asha|hyperband",
        help="an Optuna pruner stops hopeless trials at their evaluations (train.eval_every)"),
    storage: Optional[str] = typer.Option(
        None, "--storage", metavar="URL", help="the Optuna study's database, shared by several drivers",
        show_default="study.db in the sweep directory"),
    study_name: Optional[str] = typer.Option(
        None, "--study-name", metavar="NAME", help="join this study of --storage (several drivers, one study)",
        show_default="the sweep directory's name"),
    asynchronous: Optional[bool] = typer.Option(
        None, "--async/--waves", help="--async: ask the study for a trial whenever a worker is free (no worker "
        "waits; the proposals then depend on which trial ends first); --waves: as many at a time as there are "
        "workers, the next wave once all are told (the same proposals for the same -j)",
        show_default="waves, or as the resumed sweep was"),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="draws the random search's values (seeds the sampler)",
                                       show_default="the config's seed"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="worker processes",
                                          show_default="the number of cores"),
    top: int = typer.Option(10, "--top", min=1, help="leaderboard rows shown (results.md has them all)"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", metavar="DIR", help="where the sweep's directory goes",
        show_default="./runs"),
    fmt: Format = None,
    tensorboard: TensorBoard = False,
    executor: Executor = "local",
    scheduler: Scheduler = None,
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="STUDY_DIR",
        help="finish a stopped sweep: keep finished trials, continue the others (an Optuna sweep: its study)"),
    trial_figures: bool = typer.Option(
        False, "--trial-figures/--no-trial-figures",
        help="after the leaderboard, draw each trial's own figures (optlab report TRIAL_DIR draws one later)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Search hyper-parameters: random or grid search, or Optuna's samplers and pruners; trials in parallel,
    a leaderboard by validation accuracy.

    Examples: optlab sweep dlfs_hyperparameter_search --trials 100 optimizer.lr=log:1e-6:1e-2
    regularization.l2=log:1e-8:1e-4;  optlab sweep quickstart --grid optimizer.name=sgd,adam
    optimizer.lr=0.001,0.01,0.1;  optlab sweep quickstart optimizer.lr=log:1e-4:1 --sampler tpe --pruner asha --trials 40
    """
    cmd = StudyCommand("sweep", executor_spec(executor, scheduler, workers), quiet, debug, trial_figures, top,
                       fmt, tensorboard)
    given = {"CONFIG": config, "KEY=SPEC": words, "--trials": trials, "--grid": grid, "--sampler": sampler,
             "--pruner": pruner, "--seed": seed, "--storage": storage, "--study-name": study_name,
             "--async/--waves": asynchronous}
    if resume is not None:
        resume_study(cmd, resume, given, trials)
        return
    study, plan = _sweep_plan(given, output_overrides(fmt, tensorboard))
    run_study(cmd, study, plan, runs_dir)


def _sweep_plan(given: dict, extra: list[str]):
    """The sweep's study (an Optuna sweep where a sampler, pruner or storage is given) and its plan
    (optlab.studies.sweep, optlab.studies.tune), or exit 2."""
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import resolve
    from optlab.studies import sweep, tune

    adaptive = any(given[k] is not None for k in sweep.STUDY.OPTUNA)
    if given["--async/--waves"] is not None and not adaptive:
        raise bad_input(sweep.async_refused(given["--async/--waves"]))
    if given["CONFIG"] is None:
        raise bad_input("give the CONFIG every trial starts from: a recipe's name (optlab recipes lists them) "
                        "or a YAML file (or --resume STUDY_DIR)")
    words = [*(given["KEY=SPEC"] or []), *extra]
    try:
        ref = resolve(given["CONFIG"])
        say_shadowed(ref)
        if adaptive:
            plan = tune.STUDY.new_plan({**given, "CONFIG": ref.path, "KEY=SPEC": words})
            say_warnings(plan)
        else:
            plan = sweep.make_plan(ref.path, words, trials=given["--trials"], grid=given["--grid"],
                                   seed=given["--seed"], origin=ref.origin)
        require_extras(plan.base)
    except ConfigError as exc:
        raise bad_problems(exc.problems) from None
    except ImportError as exc:   # optlab.studies.optuna_parts.MissingExtra: says what to install
        raise bad_input(str(exc)) from None
    return (tune.STUDY if adaptive else sweep.STUDY), plan
