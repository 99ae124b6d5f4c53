"""``optlab gradcheck``: analytic against numerical gradients, tensor by tensor."""

from __future__ import annotations

from enum import Enum
from typing import Optional

import typer

from optlab.cli.app import EXIT_BAD_INPUT, EXIT_FAILED, app
from optlab.cli.common import err_console, load_config_or_exit


class _Method(str, Enum):
    centred = "centred"
    forward = "forward"
    both = "both"


@app.command()
def gradcheck(
    config: Optional[str] = typer.Argument(
        None, help="a recipe's name or a YAML config to check; without one, every built-in layer, loss, regulariser and model"),
    overrides: Optional[list[str]] = typer.Argument(
        None, metavar="[KEY=VALUE]...", help="override config keys, e.g. model.activation=tanh regularization.l1=1e-3"),
    method: _Method = typer.Option(
        _Method.centred, "--method", help="centred (error O(h^2)), forward (O(h)), or both side by side"),
    h: float = typer.Option(1e-5, "--h", help="finite-difference step"),
    samples: int = typer.Option(50, "--samples", min=1, help="elements checked per tensor (all if it has fewer)"),
    examples: int = typer.Option(8, "--examples", min=1, help="examples of the configured data to check on (a config only)"),
    seed: Optional[int] = typer.Option(
        None, "--seed", min=0, help="draws inputs, examples and sampled elements",
        show_default="the config's seed, or 0"),
    json_out: bool = typer.Option(False, "--json", help="print the results as JSON on stdout instead of a table"),
    debug: bool = typer.Option(False, "--debug", help="show Python tracebacks"),
) -> None:
    """Compare analytic gradients with numerical ones, per tensor, in float64; exit 1 if any fails.

    Examples: optlab gradcheck;  optlab gradcheck quickstart --method both
    """
    import math

    if not (math.isfinite(h) and h > 0):
        raise typer.BadParameter(f"must be a positive number such as 1e-5, got {h}", param_hint="'--h'")
    cfg = load_config_or_exit(config, overrides or []) if config is not None else None
    from optlab.gradcheck.check import GradcheckError, GradcheckInputError
    from optlab.gradcheck.check import gradcheck as check
    from optlab.terminal import print_error

    console = err_console()
    try:
        report = check(cfg, subject=str(config) if config else "built-ins", method=method.value, h=h,
                       samples=samples, examples=examples, seed=seed)
    except GradcheckError as exc:
        if debug:
            raise
        print_error(console, str(exc))
        raise typer.Exit(EXIT_BAD_INPUT if isinstance(exc, GradcheckInputError) else EXIT_FAILED) from None
    except Exception as exc:
        if debug:
            raise
        print_error(console, f"{type(exc).__name__}: {exc}")
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        import json

        print(json.dumps(report.to_dict(), indent=2))
    else:
        from optlab.terminal import print_gradcheck

        print_gradcheck(report)
    if not report.passed:
        raise typer.Exit(EXIT_FAILED)
