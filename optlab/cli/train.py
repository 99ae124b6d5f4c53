"""``optlab train``: one run from a config, or ``--resume`` of a stopped one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import DEBUG, EXIT_FAILED, app
from optlab.cli.common import (
    Format,
    TensorBoard,
    bad_input,
    ensure_data,
    err_console,
    load_config_or_exit,
    output_overrides,
    print_failure,
    require_extras,
    resolve_or_exit,
)


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
    config: Optional[str] = typer.Argument(
        None, metavar="CONFIG", show_default=False,
        help="a recipe's name (optlab recipes lists them) or a YAML config file, e.g. quickstart or my.yaml "
             "(with --resume: optional, default the run's own)"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. optimizer.lr=0.01 model.hidden=[50,50]"),
    resume: Optional[Path] = typer.Option(
        None, "--resume", metavar="RUN_DIR",
        help="continue RUN_DIR from its checkpoint, bit-identically; extend it with e.g. train.iterations=5000"),
    runs_dir: Optional[Path] = typer.Option(
        None, "--runs-dir", envvar="OPTLAB_RUNS_DIR", metavar="DIR", help="where run directories go",
        show_default="./runs"),
    fmt: Format = None,
    tensorboard: TensorBoard = False,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Train the model a config describes and write a run directory.

    Ctrl-C or SIGTERM: finish the step, checkpoint, stop (exit 130 / 143); twice: stop at once.

    Continue a stopped or finished run: optlab train --resume RUN_DIR [train.iterations=N]

    Example: optlab train quickstart optimizer.lr=0.01 seed=3  (optlab recipes lists the recipes)
    """
    DEBUG["on"] = DEBUG["on"] or debug
    cfg, origin = _config(config, overrides, resume, fmt, tensorboard)

    from optlab.terminal import print_run_results

    console = err_console()
    result, stop = _train(cfg, origin, resume, runs_dir, quiet, debug, console)
    print_run_results(result)
    if result.status == "interrupted":
        _say_interrupted(result, stop, console)
    if result.status != "completed":
        raise typer.Exit(EXIT_FAILED)


def _config(config: str | None, overrides: list[str] | None, resume: Path | None, fmt, tensorboard):
    """The config to train (the run's own, or the one given, with the overrides) and where it came
    from; bad input exits 2."""
    args = ([config] if config is not None else []) + list(overrides or [])
    if resume is not None:
        try:
            is_run = (resume / "meta.json").is_file()
        except OSError as exc:        # e.g. a name too long for the file system
            raise bad_input(f"--resume {resume}: {exc.strerror or exc}") from None
        if not is_run:
            raise bad_input(f"--resume {resume}: not a run directory (no meta.json)")
        config_path, args = _resume_args(resume, args)
    elif not args:
        raise bad_input("give the CONFIG to train: a recipe's name (optlab recipes lists them) or a YAML file "
                        "(or --resume RUN_DIR)")
    else:
        config_path, args = args[0], args[1:]
    args += output_overrides(fmt, tensorboard)
    ref = resolve_or_exit(config_path)
    cfg = load_config_or_exit(ref.path, args, resolved=True)
    require_extras(cfg)
    return cfg, ref.origin


def _train(cfg, origin: str | None, resume: Path | None, runs_dir: Path | None, quiet: bool, debug: bool, console):
    """Train (or resume) with a progress bar and a graceful stop: (the result, the stop request).
    Bad input exits 2, a full disk or a failure 1, a second signal 128 + its number."""
    from optlab.record.rundir import RunDirError, default_runs_root
    from optlab.terminal import print_error, progress_bar
    from optlab.training import run as experiment
    from optlab.training.checkpoint import CheckpointError
    from optlab.training.interrupt import graceful_stop, interrupt_exit_code

    ensure_data(cfg, console, debug)     # download first: its own progress bar, no run dir if offline
    try:
        with graceful_stop() as stop, progress_bar(console, cfg.name, disable=quiet) as on_step:
            if resume is not None:
                result = experiment.resume(resume, cfg, on_step=on_step, command=sys.argv, stop=stop)
            else:
                result = experiment.run(cfg, runs_dir or default_runs_root(), on_step=on_step, command=sys.argv,
                                        stop=stop, origin=origin)
    except (RunDirError, CheckpointError, experiment.SetupError) as exc:
        if DEBUG["on"]:
            raise
        raise bad_input(str(exc)) from None
    except experiment.DiskFull as exc:
        if DEBUG["on"]:
            raise
        print_error(console, str(exc))
        raise typer.Exit(EXIT_FAILED) from None
    except KeyboardInterrupt as exc:
        console.print("[yellow]interrupted[/] at once: the run directory keeps what was written "
                      "(status: interrupted; resume from the last checkpoint, if any, with --resume)")
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except Exception as exc:
        if DEBUG["on"]:
            raise
        print_failure(console, exc)
        raise typer.Exit(EXIT_FAILED) from None
    return result, stop


def _say_interrupted(result, stop, console) -> None:
    """Where an interrupted run stopped and how to go on; exits 128 + the signal's number."""
    from optlab.training.interrupt import exit_code

    steps = result.summary["steps"]
    if "note" in result.summary:      # the stop came after the last step (optlab.training.run._late_stop)
        what = f"after the last step ({steps}; training had finished)"
    else:
        what = f"after step {steps}"
    if (result.run_dir / "checkpoint.npz").is_file():
        how = f"checkpoint written; continue with: optlab train --resume {result.run_dir}"
    else:
        how = "no checkpoint (a search or a surface path is re-run: the same config and seed repeat it)"
    console.print(f"[yellow]interrupted[/] ({stop.name}) {what}: {how}", soft_wrap=True)
    raise typer.Exit(exit_code(stop.signum))
