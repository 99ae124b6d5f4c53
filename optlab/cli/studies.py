"""``optlab compare`` and ``optlab sweep``: many trials of one experiment, in parallel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import EXIT_FAILED, app
from optlab.cli.common import (
    optimizer_names,
    Executor,
    Format,
    Scheduler,
    TensorBoard,
    bad_input,
    bad_problems,
    ensure_study_data,
    err_console,
    nothing_to_resume,
    output_overrides,
    require_extras,
    say_shadowed,
    with_progress,
)

DEFAULT_COMPARE_CONFIG = "mnist_mlp"    # a recipe (optlab.config.recipes): DLFS ch. 6's network

def _writable_root(runs_dir: Optional[Path]) -> Path:
    """The runs directory, or exit 2 if no directory can be made in it (as ``optlab train``)."""
    from optlab.record.rundir import RunDirError, check_writable, default_runs_root

    root = runs_dir or default_runs_root()
    try:
        check_writable(root)
    except RunDirError as exc:
        raise bad_input(str(exc)) from None
    return root


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
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import resolve

    spec = executor_spec(executor, scheduler, workers)
    if resume is not None:
        if words or vary or tune:
            raise bad_input("--resume continues a comparison as it was planned: give no variants, overrides, "
                            "--vary or --tune with it")
        from optlab.studies.compare import load_plan, resume_compare
        from optlab.terminal import print_compare_results

        try:                                 # read only: the extras its trials need, before any runs
            plan, _ = load_plan(resume)
        except ConfigError as exc:
            raise bad_problems(exc.problems) from None
        if nothing_to_resume(resume, None, print_compare_results):
            return
        _resume_extras([v.config for v in plan.variants], fmt, tensorboard, "comparison")
        result = with_progress("comparison", quiet, debug, lambda progress: resume_compare(
            resume, progress=progress, command=sys.argv, executor=spec, trial_reports=False))
        print_compare_results(result.path)
        draw_trial_reports(result, quiet, trial_figures)
        report_failed(result.failed)
        return
    try:
        from optlab.studies.compare import make_plan
        from optlab.studies.variants import build_variants, is_override, own_comparison

        ref = resolve(config)
        say_shadowed(ref)
        words = [*(words or []), *output_overrides(fmt, tensorboard)]
        base, varied, variants = build_variants(ref.path, words, vary, own=own_comparison(ref.path))
        plan = make_plan(variants, base, varied, seeds=seeds, target=target, tune=tune, grid=grid,
                         source={"config": ref.origin, "overrides": [w for w in words or [] if is_override(w)]})
        require_extras(base)
    except ConfigError as exc:
        raise bad_problems(exc.problems) from None
    ensure_study_data([v.config for v in plan.variants], debug)
    from optlab.studies.compare import run_compare
    from optlab.terminal import print_compare_results

    root = _writable_root(runs_dir)
    result = with_progress("comparison", quiet, debug, lambda progress: run_compare(
        plan, root, progress=progress, command=sys.argv, executor=spec, trial_reports=False))
    print_compare_results(result.path)
    draw_trial_reports(result, quiet, trial_figures)
    report_failed(result.failed)


def _resume_extras(configs, fmt: Optional[str], tensorboard: bool, what: str) -> None:
    """Before a resumed study runs a trial: exit 2 if its trials need an extra that is missing
    (``--tensorboard`` given again counts too), or if ``--format``/``--tensorboard`` ask for what
    the study was not planned with (a resume continues the plan as it was)."""
    from optlab.record.tensorboard import TensorBoardMissing, require

    for cfg in configs:
        require_extras(cfg)
    if tensorboard:
        try:
            require()
        except TensorBoardMissing as exc:
            raise bad_input(str(exc)) from None
        if not all(cfg.logging.tensorboard for cfg in configs):
            raise bad_input(f"--resume continues the {what} as it was planned, without TensorBoard event files: "
                            "drop --tensorboard (or start a new one with it)")
    if fmt is not None and any(cfg.plots.format != fmt for cfg in configs):
        raise bad_input(f"--resume continues the {what} as it was planned: drop --format "
                        f"(optlab report DIR --format {fmt} redraws its figures)")


def draw_trial_reports(result, quiet: bool, wanted: bool) -> None:
    """Each trial's own figures, drawn once the study's results are on screen (Ctrl-C skips them)."""
    from optlab.record.trial_reports import render_trial_reports
    from optlab.record.words import count
    from optlab.studies.executor import default_workers

    console = err_console()
    if not wanted:
        if not quiet:
            console.print(f"each trial's own figures: optlab report {result.path}/TRIAL_DIR", markup=False,
                          soft_wrap=True)
        return
    if not quiet:
        console.print(f"drawing each trial's own figures ({count(len(result.trial_dirs), 'trial')}; Ctrl-C skips them, "
                      f"`optlab report {result.path}` draws them later)", markup=False, soft_wrap=True)
    try:
        render_trial_reports(result.path, result.trial_dirs, workers=default_workers())
    except KeyboardInterrupt:
        console.print(f"skipped: `optlab report {result.path}` draws them", markup=False, soft_wrap=True)


def executor_spec(kind: str, scheduler: Optional[str], workers: Optional[int]):
    """--executor / --scheduler / --workers as an ExecutorSpec, or exit 2."""
    from optlab.studies.executor import KINDS, ExecutorSpec

    if kind not in KINDS:
        raise bad_input(f"--executor: one of {', '.join(KINDS)}; got {kind!r}")
    if kind == "local" and scheduler:
        raise bad_input("--scheduler (or OPTLAB_SCHEDULER) needs --executor dask")
    return ExecutorSpec(kind, workers, scheduler)


def report_failed(failed) -> None:
    """A line per trial that did not complete (its message), then exit 1; nothing if none."""
    from optlab.terminal import say

    console = err_console()
    for outcome in failed:
        detail = f": {outcome.error}" if outcome.error else ""
        say(console, outcome.status, f"{outcome.dir_name}{detail}")
    if failed:
        raise typer.Exit(EXIT_FAILED)


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
    from optlab.config.loading import ConfigError
    from optlab.config.recipes import resolve

    from optlab.terminal import say

    spec = executor_spec(executor, scheduler, workers)
    adaptive = any(x is not None for x in (sampler, pruner, storage, study_name)) or _optuna_sweep(resume)
    if asynchronous is not None and not adaptive and (resume is None or (resume / "sweep.json").is_file()):
        raise bad_input(f"--{'async' if asynchronous else 'waves'} orders the asks of an Optuna sweep (--sampler, "
                        "--pruner); a random or grid sweep draws every trial before any runs, and its workers never "
                        "wait for each other")
    console = err_console()
    try:
        if adaptive:
            extra = output_overrides(fmt, tensorboard) if resume is None else []
            plan = _tune_plan(config, [*(words or []), *extra], trials, grid, sampler, pruner, seed, storage,
                              study_name, resume, asynchronous)
            for warning in plan.warnings:
                say(console, "warning", warning, "yellow")
        elif resume is not None:             # a random or grid sweep resumes its own plan (optlab.studies.sweep)
            if config is not None or words:
                raise bad_input("--resume continues a sweep as it was planned: give no CONFIG or KEY=SPEC with it")
            if (resume / "sweep.json").is_file():
                from optlab.studies.sweep import load_plan

                _resume_extras(load_plan(resume)[0].configs, fmt, tensorboard, "sweep")
            plan = None
        else:
            from optlab.studies.sweep import make_plan

            if config is None:
                raise bad_input("give the CONFIG every trial starts from: a recipe's name (optlab recipes lists them) "
                                "or a YAML file (or --resume STUDY_DIR)")
            ref = resolve(config)
            say_shadowed(ref)
            plan = make_plan(ref.path, [*(words or []), *output_overrides(fmt, tensorboard)], trials=trials, grid=grid,
                             seed=seed, origin=ref.origin)
        if plan is not None:
            require_extras(plan.base)
    except ConfigError as exc:
        raise bad_problems(exc.problems) from None
    except ImportError as exc:   # optlab.studies.optuna_parts.MissingExtra: says what to install
        raise bad_input(str(exc)) from None
    from optlab.terminal import print_sweep_results

    if resume is not None and nothing_to_resume(resume, trials, lambda path: print_sweep_results(path, top=top)):
        return
    if plan is not None and resume is None:
        ensure_study_data(getattr(plan, "configs", [plan.base]), debug)
    root = _writable_root(runs_dir) if resume is None else None

    if adaptive:
        from optlab.studies.tune import run_tune

        def start(progress):
            return run_tune(plan, root, resume=resume, progress=progress,
                            command=sys.argv, executor=spec, trial_reports=False)
    elif resume is not None:
        from optlab.studies.sweep import resume_sweep

        def start(progress):
            return resume_sweep(resume, progress=progress, command=sys.argv, executor=spec, trial_reports=False)
    else:
        from optlab.studies.sweep import run_sweep

        def start(progress):
            return run_sweep(plan, root, progress=progress, command=sys.argv,
                             executor=spec, trial_reports=False)
    result = with_progress("sweep", quiet, debug, start)
    print_sweep_results(result.path, top=top)
    draw_trial_reports(result, quiet, trial_figures)
    report_failed(result.failed)


def _optuna_sweep(resume: Optional[Path]) -> bool:
    """Whether --resume names an Optuna sweep (sweep.json mode "optuna"); False without --resume."""
    if resume is None or not (resume / "sweep.json").is_file():
        return False                         # not a sweep: optlab.studies.sweep.resume_sweep says so
    from optlab.record.rundir import RunDir

    return RunDir(resume).read_json("sweep.json").get("mode") == "optuna"


def _problem(where: str, message: str):
    from optlab.config.loading import Problem

    return Problem(where, "", message)


def _tune_plan(config, words, trials, grid, sampler, pruner, seed, storage, study_name, resume, asynchronous):
    """The adaptive sweep's plan; with --resume, what the sweep recorded fills in what is not given."""
    from optlab.config.loading import ConfigError
    from optlab.studies.optuna_parts import import_optuna
    from optlab.studies.tune import make_tune_plan

    import_optuna()
    if grid:
        raise ConfigError([_problem("--grid", "with --sampler, ask for a grid as --sampler grid")])
    if resume is not None:
        from optlab.record.rundir import RunDir

        if not (resume / "sweep.json").is_file():
            raise ConfigError([_problem("--resume", f"{resume} is not a sweep directory (no sweep.json)")])
        was = RunDir(resume).read_json("sweep.json")
        if was.get("mode") != "optuna":
            raise ConfigError([_problem("--resume", f"{resume} is a {was.get('mode')} sweep, not an Optuna study: "
                                                    "resume it without --sampler / --pruner / --storage")])
        config = config or Path(was["config"])
        words = words or was["words"]
        trials, seed = trials or was["target_trials"], was["seed"] if seed is None else seed
        sampler, pruner = sampler or was["sampler"], pruner or was["pruner"]
        asynchronous = was.get("asynchronous", False) if asynchronous is None else asynchronous
    if config is None:
        raise ConfigError([_problem("CONFIG", "give the config every trial starts from (or --resume DIR)")])
    from optlab.config.recipes import resolve

    ref = resolve(config)                # a file, NAME.yaml here, or the recipe NAME
    say_shadowed(ref)
    config = ref.path
    if study_name is not None and storage is None:
        raise ConfigError([_problem("--study-name", "joins a study of a shared --storage; give --storage URL")])
    if resume is not None:
        study_name = study_name or was["study_name"]
        if storage is None and "***" in was["storage"]:
            raise ConfigError([_problem("--storage", f"the study is in {was['storage']}: give --storage with its "
                                                     "password again (sweep.json does not keep it)")])
    plan = make_tune_plan(config, words, trials=trials, sampler=sampler or "tpe", pruner=pruner or "none",
                          seed=seed, storage=storage, study_name=study_name, asynchronous=bool(asynchronous))
    if resume is not None:
        from optlab.studies.tune import check_resume

        check_resume(plan, was)
    return plan
