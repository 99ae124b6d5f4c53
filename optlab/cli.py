"""The ``optlab`` command line: thin typer commands that parse options, load the config and call
one library function each. Heavy modules (numpy, matplotlib, pydantic) are imported inside the
commands so that ``optlab --help`` stays fast.

Exit codes (conventions.md): 0 success; 1 the run failed (diverged, error); 2 bad input (a config
or argument error, an unusable runs directory, a refused --resume); 130 / 143 the run was stopped
by SIGINT / SIGTERM (128 + the signal number, as shells report it: issue #9). No traceback unless
``--debug`` (``optlab --debug CMD`` for any command, or ``CMD --debug``).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="optlab",
    help="A laboratory for how neural networks learn their parameters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain (click) help and usage errors: typer's rich help imports rich's Markdown, tracebacks and
    # syntax highlighting (~130 ms), which made `optlab --help` take 0.31 s on the shared machine
    # instead of 0.16 s (docs/performance.md). Commands list their whole first docstring line
    # (_full_short_help), not click's cut-off one.
    rich_markup_mode=None,
)

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2
_DEBUG = {"on": False}   # set by --debug (root or command); read by main() for uncaught errors


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show Python tracebacks (any command)")) -> None:
    """optlab: run, compare and check the classic experiments of learning by gradient."""
    _DEBUG["on"] = _DEBUG["on"] or debug


def _bad_input(message: str) -> typer.Exit:
    """Print ``error: message`` and return the exit-2 exception to raise."""
    from rich.markup import escape

    _err_console().print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def _load_config(path: Path, overrides: list[str]):
    """The validated config, or exit 2 listing every problem."""
    from optlab.config import ConfigError, load_config

    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        console = _err_console()
        n = len(exc.problems)
        console.print(f"[bold red]error:[/] {n} problem{'s' if n > 1 else ''} in the config:")
        for problem in exc.problems:
            console.print(f"  {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _resume_args(run_dir: Path, args: list[str]) -> tuple[Path, list[str]]:
    """``--resume RUN_DIR [CONFIG] [KEY=VALUE]...``: the config file (the run's own config.yaml
    unless one is given) and the overrides. Setting one of train.iterations / train.epochs
    clears the other, so ``train.iterations=2000`` extends a run that was given in epochs."""
    path = Path(args.pop(0)) if args and "=" not in args[0] else run_dir / "config.yaml"
    keys = {a.split("=", 1)[0].strip() for a in args}
    for key, other in (("train.iterations", "train.epochs"), ("train.epochs", "train.iterations")):
        if key in keys and other not in keys:
            args = [f"{other}=null", *args]
    return path, args


@app.command()
def train(
    ctx: typer.Context,
    config: Optional[str] = typer.Argument(
        None, metavar="CONFIG", show_default=False,
        help="YAML config file, e.g. configs/quickstart.yaml (with --resume: optional, default the run's own)"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. optimizer.lr=0.01 model.hidden=[50,50]"),
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="RUN_DIR",
        help="continue RUN_DIR from its checkpoint, bit-identically; extend it with e.g. train.iterations=5000"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", help="where run directories go [default: ./runs]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train the model a config describes and write a run directory.

    Ctrl-C or SIGTERM: finish the step, checkpoint, stop (exit 130 / 143); twice: stop at once.

    Continue a stopped or finished run: optlab train --resume RUN_DIR [train.iterations=N]

    Example: optlab train configs/quickstart.yaml optimizer.lr=0.01 seed=3
    """
    _DEBUG["on"] = _DEBUG["on"] or debug
    args = ([config] if config is not None else []) + list(overrides or [])
    if resume is not None:
        if not (resume / "meta.json").is_file():
            raise _bad_input(f"--resume {resume}: not a run directory (no meta.json)")
        config_path, args = _resume_args(resume, args)
    elif not args:
        raise typer.BadParameter("a config file is required (or --resume RUN_DIR)", ctx=ctx, param_hint="'CONFIG'")
    else:
        config_path, args = Path(args[0]), args[1:]
    cfg = _load_config(config_path, args)

    from optlab import experiment
    from optlab.checkpoint import CheckpointError
    from optlab.interrupt import exit_code, graceful_stop, interrupt_exit_code
    from optlab.rundir import RunDirError, default_runs_root
    from optlab.terminal import print_run_results, progress_bar

    console = _err_console()
    _ensure_data(cfg, console, debug)     # download first: its own progress bar, no run dir if offline
    try:
        with graceful_stop() as stop, progress_bar(console, cfg.name, disable=quiet) as on_step:
            if resume is not None:
                result = experiment.resume(resume, cfg, on_step=on_step, command=sys.argv, stop=stop)
            else:
                result = experiment.run(cfg, runs_dir or default_runs_root(), on_step=on_step, command=sys.argv,
                                        stop=stop)
    except (RunDirError, CheckpointError, experiment.SetupError) as exc:
        if _DEBUG["on"]:
            raise
        raise _bad_input(str(exc)) from None
    except KeyboardInterrupt as exc:
        console.print("[yellow]interrupted[/] at once: the run directory keeps what was written "
                      "(status: interrupted; resume from the last checkpoint, if any, with --resume)")
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except Exception as exc:
        if _DEBUG["on"]:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None
    print_run_results(result)
    if result.status == "interrupted":
        console.print(f"[yellow]interrupted[/] ({stop.name}) after step {result.summary['steps']}: checkpoint "
                      f"written; continue with: optlab train --resume {result.run_dir}", soft_wrap=True)
        raise typer.Exit(exit_code(stop.signum))
    if result.status != "completed":
        raise typer.Exit(EXIT_FAILED)


class _Method(str, Enum):
    centred = "centred"
    forward = "forward"
    both = "both"


@app.command()
def gradcheck(
    config: Optional[Path] = typer.Argument(
        None, help="YAML config to check; without one, every built-in layer, loss, regulariser and model"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. model.activation=tanh regularization.l1=1e-3"),
    method: _Method = typer.Option(
        _Method.centred, "--method", help="centred (error O(h^2)), forward (O(h)), or both side by side"),
    h: float = typer.Option(1e-5, "--h", help="finite-difference step"),
    samples: int = typer.Option(50, "--samples", min=1, help="elements checked per tensor (all if it has fewer)"),
    examples: int = typer.Option(8, "--examples", min=1, help="examples of the configured data to check on (a config only)"),
    seed: Optional[int] = typer.Option(
        None, "--seed", min=0, help="draws inputs, examples and sampled elements (default: the config's seed, or 0)"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON on stdout instead of a table"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Compare analytic gradients with numerical ones, per tensor, in float64; exit 1 if any fails.

    Examples: optlab gradcheck;  optlab gradcheck configs/quickstart.yaml --method both
    """
    import math

    if not (math.isfinite(h) and h > 0):
        raise typer.BadParameter(f"must be a positive number such as 1e-5, got {h}", param_hint="'--h'")
    cfg = _load_config(config, overrides or []) if config is not None else None
    from optlab.gradcheck import GradcheckError, GradcheckInputError
    from optlab.gradcheck import gradcheck as check

    console = _err_console()
    try:
        report = check(cfg, subject=str(config) if config else "built-ins", method=method.value, h=h,
                       samples=samples, examples=examples, seed=seed)
    except GradcheckError as exc:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(EXIT_BAD_INPUT if isinstance(exc, GradcheckInputError) else EXIT_FAILED) from None
    except Exception as exc:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        from optlab.terminal import print_gradcheck

        print_gradcheck(report)
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)


def _print_failure(console, exc: Exception) -> None:
    from optlab.data import DataError

    if isinstance(exc, DataError):   # a message written for the user: no exception type, no markup
        console.print("[bold red]error:[/] ", end="")
        console.print(str(exc), markup=False, soft_wrap=True)
    else:
        from rich.markup import escape

        console.print(f"[bold red]error:[/] {type(exc).__name__}: {escape(str(exc))}", soft_wrap=True)


def _ensure_data(cfg, console, debug: bool) -> None:
    from optlab.data import DataError, ensure_files

    try:
        ensure_files(cfg.data, console=console)
    except DataError as exc:
        if debug:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


# --------------------------------------------------------------------------------------------
# optlab data: list and download the real datasets (library code in optlab/data/catalog.py)
# --------------------------------------------------------------------------------------------
data_app = typer.Typer(help="List and download the real datasets (MNIST, Fashion-MNIST, CIFAR-10).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")

_ROOT_HELP = "data directory [default: $OPTLAB_DATA_DIR, else the per-user cache]"


@data_app.command("list")
def data_list(root: Optional[Path] = typer.Option(None, "--root", help=_ROOT_HELP)) -> None:
    """Every dataset: whether its files are present and verify, where, and their size."""
    from optlab.data.catalog import print_catalog

    print_catalog(root)


@data_app.command("download")
def data_download(
    name: str = typer.Argument(..., help="mnist, fashion_mnist or cifar10"),
    root: Optional[Path] = typer.Option(None, "--root", help=_ROOT_HELP),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Download a dataset's files, verify their checksums and keep them in the data directory.

    Example: optlab data download mnist
    """
    import difflib

    from optlab.data import DataError
    from optlab.data.catalog import download
    from optlab.data.sources import SPECS

    console = _err_console()
    if name not in SPECS:
        close = difflib.get_close_matches(name, list(SPECS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        console.print(f"[bold red]error:[/] unknown dataset {name!r}{hint} (downloadable: {', '.join(SPECS)})",
                      markup=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        download(name, root, console=console)
    except DataError as exc:
        if debug:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


def _with_progress(what: str, quiet: bool, debug: bool, start):
    """``start(progress)`` under one progress display for many trials (a comparison, a sweep):
    Ctrl-C exits 130 keeping the trials written; an error is one line and exit 1 (unless --debug)."""
    from optlab.terminal import CompareProgress

    console = _err_console()
    try:
        with CompareProgress(console, disable=quiet) as progress:
            return start(progress)
    except KeyboardInterrupt as exc:   # Stopped (a graceful stop) or Abort (a second signal) carry the signal
        from optlab.interrupt import interrupt_exit_code

        console.print(f"[yellow]interrupted[/]: the {what} keeps the trials that were written (status: interrupted)")
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except Exception as exc:
        if debug or _DEBUG["on"]:
            raise
        _print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None


DEFAULT_COMPARE_CONFIG = Path("configs/mnist_mlp.yaml")


def _bad_problems(problems, hint: str = "") -> typer.Exit:
    """Print input problems (config, variants, options) and return the exit-2 to raise."""
    console = _err_console()
    n = len(problems)
    console.print(f"[bold red]error:[/] {n} problem{'s' if n > 1 else ''} in the input:")
    for problem in problems:   # one line each, never wrapped: a message stays greppable
        console.print(f"  {problem}", markup=False, soft_wrap=True)
    if hint:
        console.print(hint, markup=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


@app.command()
def compare(
    words: Optional[list[str]] = typer.Argument(
        None, metavar="[OPTIMIZER[:KEY=VALUE,...]]... [KEY=VALUE]...",
        help="optimizers to compare (sgd momentum adam:lr=0.003) and overrides for all (train.iterations=500)"),
    config: Path = typer.Option(DEFAULT_COMPARE_CONFIG, "--config", "-c", help="YAML config every variant starts from"),
    vary: Optional[str] = typer.Option(
        None, "--vary", metavar="KEY=V1,V2,...", help="compare values of any config key, e.g. model.init=normal,xavier,he"),
    seeds: int = typer.Option(1, "--seeds", min=1, help="seeds per variant: the config's seed and the ones after it"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="worker processes",
                                          show_default="the number of cores; 1 for surfaces"),
    tune: Optional[str] = typer.Option(
        None, "--tune", metavar="lr", help="first search each variant's learning rate on a log grid (DeepOBS protocol)"),
    grid: str = typer.Option("1e-4:1:9", "--grid", metavar="LOW:HIGH:N", help="the learning rates --tune lr tries"),
    target: Optional[float] = typer.Option(
        None, "--target", help="a validation accuracy (fraction, e.g. 0.97): report the steps each variant needs"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", help="where the comparison's directory goes", show_default="./runs"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train variants of one experiment side by side: same initial weights and mini-batches per seed.

    Examples: optlab compare sgd momentum adagrad adam --config configs/quickstart.yaml --seeds 3;
    optlab compare --vary model.init=normal,xavier,he; optlab compare sgd adam --tune lr
    """
    from optlab.config import ConfigError

    try:
        from optlab.compare import make_plan
        from optlab.variants import build_variants, is_override

        base, varied, variants = build_variants(config, words or [], vary)
        plan = make_plan(variants, base, varied, seeds=seeds, target=target, tune=tune, grid=grid,
                         source={"config": str(config), "overrides": [w for w in words or [] if is_override(w)]})
    except ConfigError as exc:
        hint = ""
        if config == DEFAULT_COMPARE_CONFIG and not config.exists():
            hint = f"({config} is the default config; give another with --config, e.g. --config configs/quickstart.yaml)"
        raise _bad_problems(exc.problems, hint) from None
    from optlab.compare import run_compare
    from optlab.rundir import default_runs_root
    from optlab.terminal import print_compare_results

    console = _err_console()
    result = _with_progress("comparison", quiet, debug, lambda progress: run_compare(
        plan, runs_dir or default_runs_root(), workers=workers, progress=progress, command=sys.argv))
    print_compare_results(result.path)
    if result.failed:
        for outcome in result.failed:
            detail = f": {outcome.error}" if outcome.error else ""
            console.print(f"[bold red]{outcome.status}[/] {outcome.dir_name}{detail}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED)


@app.command()
def sweep(
    config: Path = typer.Argument(..., metavar="CONFIG", help="YAML config every trial starts from"),
    words: Optional[list[str]] = typer.Argument(
        None, metavar="KEY=SPEC...",
        help="what to search: log:LOW:HIGH, lin:LOW:HIGH, int:LOW:HIGH or A,B,C (a grid: log:LOW:HIGH:N, "
             "lin:LOW:HIGH:N); KEY=VALUE sets a key for every trial"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", min=1, help="random search with this many trials"),
    grid: bool = typer.Option(False, "--grid", help="grid search: every combination of the values"),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="draws the random search's values",
                                       show_default="the config's seed"),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1, help="worker processes",
                                          show_default="the number of cores"),
    top: int = typer.Option(10, "--top", min=1, help="leaderboard rows shown (results.md has them all)"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", help="where the sweep's directory goes", show_default="./runs"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress display"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Search hyper-parameters: random or grid search, trials in parallel, a leaderboard by validation accuracy.

    Examples: optlab sweep configs/dlfs_hyperparameter_search.yaml --trials 100 optimizer.lr=log:1e-6:1e-2
    regularization.l2=log:1e-8:1e-4;  optlab sweep configs/quickstart.yaml --grid optimizer.name=sgd,adam
    optimizer.lr=0.001,0.01,0.1
    """
    from optlab.config import ConfigError

    try:
        from optlab.sweep import make_plan

        plan = make_plan(config, words or [], trials=trials, grid=grid, seed=seed)
    except ConfigError as exc:
        raise _bad_problems(exc.problems) from None
    from optlab.rundir import default_runs_root
    from optlab.sweep import run_sweep
    from optlab.terminal import print_sweep_results

    console = _err_console()
    result = _with_progress("sweep", quiet, debug, lambda progress: run_sweep(
        plan, runs_dir or default_runs_root(), workers=workers, progress=progress, command=sys.argv))
    print_sweep_results(result.path, top=top)
    for outcome in result.failed:
        console.print(f"[bold red]failed[/] {outcome.dir_name}: {outcome.error}", soft_wrap=True)
    if result.failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def report(
    dirs: list[Path] = typer.Argument(..., metavar="DIR...", help="run, comparison or sweep directories"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Rebuild the plots and tables of run, comparison or sweep directories from their files (no training).

    Example: optlab report runs/2026-01-01_120000_quickstart-compare
    """
    from optlab.report import NotARunDirectory, render_directory
    from optlab.terminal import print_compare_results, print_run_results, print_sweep_results

    missing = [d for d in dirs if not any((d / f).is_file() for f in ("compare.json", "sweep.json", "metrics.csv"))]
    if missing:
        from optlab.config import Problem

        raise _bad_problems([Problem(str(d), "", "no such directory" if not d.exists() else
                                     "not a run directory (no metrics.csv), a comparison (no compare.json) "
                                     "nor a sweep (no sweep.json)") for d in missing])
    for d in dirs:
        try:
            kind = render_directory(d)
        except (NotARunDirectory, OSError, ValueError, KeyError) as exc:
            if debug:
                raise
            _err_console().print(f"[bold red]error:[/] cannot render {d}: {type(exc).__name__}: {exc}", soft_wrap=True)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        if kind == "compare":
            print_compare_results(d)
        elif kind == "sweep":
            print_sweep_results(d)
        else:
            from optlab.experiment import Result
            from optlab.rundir import RunDir

            summary = RunDir(d).read_json("summary.json") if (d / "summary.json").exists() else {}
            print_run_results(Result(d, summary.get("status", "?"), summary))


def _full_short_help(typer_app: typer.Typer) -> None:
    """Each command's one-line summary in ``--help``: its docstring's first line, whole."""
    for info in typer_app.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            info.short_help = info.callback.__doc__.strip().splitlines()[0]
    for group in typer_app.registered_groups:
        text = group.typer_instance.info.help
        if group.short_help is None or not isinstance(group.short_help, str):
            group.short_help = text.strip().splitlines()[0] if isinstance(text, str) and text.strip() else None
        _full_short_help(group.typer_instance)


_full_short_help(app)


def main() -> None:
    """The console script: any uncaught error is one line and exit 1 (a traceback with --debug);
    Ctrl-C outside a run (e.g. while loading) exits 130 without a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _DEBUG["on"] or "--debug" in sys.argv[1:]:
            raise
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n(run with --debug for the traceback)\n")
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    main()
