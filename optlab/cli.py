"""The ``optlab`` command line: thin typer commands that parse options, load the config and call
one library function each. Heavy modules (numpy, matplotlib, pydantic) are imported inside the
commands so that ``optlab --help`` stays fast.

Exit codes (conventions.md): 0 success; 1 the run failed (diverged, error, interrupted);
2 bad input (config or arguments). No traceback for a user error unless ``--debug``.
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
)

EXIT_FAILED, EXIT_BAD_INPUT = 1, 2


@app.callback()
def _root() -> None:
    """optlab: run, compare and check the classic experiments of learning by gradient."""


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


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML config file, e.g. configs/quickstart.yaml"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. optimizer.lr=0.01 model.hidden=[50,50]"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", help="where run directories go [default: ./runs]"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train the model a config describes and write a run directory.

    Example: optlab train configs/quickstart.yaml optimizer.lr=0.01 seed=3
    """
    cfg = _load_config(config, overrides or [])
    from optlab.experiment import run
    from optlab.rundir import default_runs_root
    from optlab.terminal import print_run_results, progress_bar

    console = _err_console()
    try:
        with progress_bar(console, cfg.name, disable=quiet) as on_step:
            result = run(cfg, runs_dir or default_runs_root(), on_step=on_step, command=sys.argv)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the run directory keeps what was written (status: interrupted)")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}", markup=True)
        raise typer.Exit(EXIT_FAILED) from None
    print_run_results(result)
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


DEFAULT_COMPARE_CONFIG = Path("configs/mnist_mlp.yaml")


def _bad_input(problems, hint: str = "") -> typer.Exit:
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
        raise _bad_input(exc.problems, hint) from None
    from optlab.compare import run_compare
    from optlab.rundir import default_runs_root
    from optlab.terminal import CompareProgress, print_compare_results

    console = _err_console()
    try:
        with CompareProgress(console, disable=quiet) as progress:
            result = run_compare(plan, runs_dir or default_runs_root(), workers=workers, progress=progress,
                                 command=sys.argv)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: the comparison keeps the trials that were written (status: interrupted)")
        raise typer.Exit(130) from None
    except Exception as exc:
        if debug:
            raise
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    print_compare_results(result.path)
    if result.failed:
        for outcome in result.failed:
            detail = f": {outcome.error}" if outcome.error else ""
            console.print(f"[bold red]{outcome.status}[/] {outcome.dir_name}{detail}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED)


@app.command()
def report(
    dirs: list[Path] = typer.Argument(..., metavar="DIR...", help="run directories or comparison directories"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Rebuild the plots and tables of run or comparison directories from their files (no training).

    Example: optlab report runs/2026-01-01_120000_quickstart-compare
    """
    from optlab.report import NotARunDirectory, render_directory
    from optlab.terminal import print_compare_results, print_run_results

    missing = [d for d in dirs if not ((d / "compare.json").is_file() or (d / "metrics.csv").is_file())]
    if missing:
        from optlab.config import Problem

        raise _bad_input([Problem(str(d), "", "no such directory" if not d.exists() else
                                  "not a run directory (no metrics.csv) nor a comparison (no compare.json)")
                          for d in missing])
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
        else:
            from optlab.experiment import Result
            from optlab.rundir import RunDir

            summary = RunDir(d).read_json("summary.json") if (d / "summary.json").exists() else {}
            print_run_results(Result(d, summary.get("status", "?"), summary))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
