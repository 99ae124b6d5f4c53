"""``optlab optimizers`` / ``optimizers check``: the optimizers a config can name (built-in, from a
file, installed) with their hyper-parameters, and the conformance suite for a user's one (library
code in optlab/engine/optimizers/ and optlab/config/plugins.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from optlab.cli.app import EXIT_FAILED, app
from optlab.cli.common import bad_input
from optlab.cli.helptext import OptlabTyper

optimizers_app = OptlabTyper(
    help="The optimizers a config can name, with their hyper-parameters and sources; check a user's one.",
    invoke_without_command=True)
app.add_typer(optimizers_app, name="optimizers")


def _rule(text: str):
    """The optimizer class a FILE_OR_NAME means, or exit 2 saying why not."""
    from optlab.config.plugins import find, load_file
    from optlab.engine.optimizers import PluginError

    try:
        if text.endswith(".py") or Path(text).is_file():
            rules = load_file(text)
            if len(rules) > 1:
                raise bad_input(f"{text} defines {len(rules)} optimizers ({', '.join(rules)}); check one by name "
                                "after naming the file in a config, or split the file")
            return next(iter(rules.values()))
        return find(text)
    except PluginError as exc:
        raise bad_input(str(exc)) from None
    except KeyError as exc:
        raise bad_input(exc.args[0]) from None


@optimizers_app.callback()
def optimizers_list(ctx: typer.Context,
                    files: Optional[list[Path]] = typer.Option(
                        None, "--from", metavar="FILE", help="also list the optimizers this file defines")) -> None:
    """Every optimizer: its name, hyper-parameters (default, range, meaning) and where it comes from."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from optlab.config.plugins import everything

    for file in files or []:
        _rule(str(file))
    rules, broken = everything()
    table = Table(show_lines=True, title="optlab optimizers  (optimizer: {name: NAME, KEY: VALUE} in a config)")
    table.add_column("name", no_wrap=True)
    table.add_column("hyper-parameters: default, allowed, meaning", overflow="fold", ratio=3)
    table.add_column("source", overflow="fold", ratio=1)
    for name, cls in rules.items():
        chain = {key for link in cls.transforms for key in link.hypers}     # the same for every rule
        lines = [f"{key} = {h.default}  ({h.range.describe(key)})  {h.meaning}"
                 + (f"  [{h.source}]" if h.source else "") for key, h in cls.hypers.items() if key not in chain]
        lines.append(f"and {', '.join(k for k in cls.hypers if k in chain)} (docs/config.md)")
        doc = (cls.__doc__ or "").strip().splitlines()
        table.add_row(name, "\n".join(lines), f"{doc[0] if doc else ''}\n({cls.found_in})")
    console = Console(highlight=False)
    console.print(table)
    for exc in broken:
        console.print(f"broken: {exc}", markup=False, soft_wrap=True)


@optimizers_app.command("check")
def optimizers_check(
        target: str = typer.Argument(..., metavar="FILE_OR_NAME", help="a Python file defining one optimizer, "
                                     "or an optimizer's name")) -> None:
    """Run the conformance suite on an optimizer: state round trip, resume, dtype, quadratic, allocation, determinism.
    Exit 1 when a check fails, 2 when the file cannot be used at all."""
    from rich.console import Console

    from optlab.engine.optimizers.conformance import conformance

    cls = _rule(target)
    console = Console(highlight=False)
    results = conformance(cls)
    for check in results:
        mark = "ok  " if check.ok else "FAIL"
        console.print(f"{mark} {check.name}" + ("" if check.ok else f": {check.message}"), markup=False, soft_wrap=True)
    failed = [c for c in results if not c.ok]
    verdict = f"{len(failed)} of {len(results)} checks failed" if failed else f"all {len(results)} checks passed"
    console.print(f"{cls.name} ({cls.found_in}): {verdict}", markup=False, soft_wrap=True)
    if failed:
        raise typer.Exit(EXIT_FAILED)
