"""One help convention for every command (optlab/cli/helptext.py), --version and -h, and user
text that is printed as written, never as rich markup or emoji codes."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from optlab import __version__
from optlab.cli import app

runner = CliRunner()


def commands() -> list[list[str]]:
    """Every command and sub-command of the app, as argument lists."""
    import typer.main

    out = []

    def walk(group, prefix):
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(cmd, prefix + [name])
            else:
                out.append(prefix + [name])
    walk(typer.main.get_command(app), [])
    return out


def test_version_and_short_help():
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.stdout.strip() == f"optlab {__version__}"
    assert runner.invoke(app, ["-h"]).stdout == runner.invoke(app, ["--help"]).stdout


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_every_command_names_its_arguments_the_same_way(command):
    short, long = runner.invoke(app, [*command, "-h"]), runner.invoke(app, [*command, "--help"])
    assert short.exit_code == 0 and short.stdout == long.stdout
    text = long.stdout
    usage = text.split("\n\n")[0]
    assert usage.startswith(f"Usage: optlab {' '.join(command)} [OPTIONS]")
    assert "{" not in usage and "<" not in usage, f"typer's own argument notation leaks: {usage}"
    assert not re.search(r"<(list|path|str|int|float|text|integer|bool)\b", text), \
        f"a Python type leaks into the help of {' '.join(command)}:\n{text}"
    for word in re.findall(r"\[([a-z_]+)\]", usage):
        pytest.fail(f"lower-case argument name [{word}] in: {usage}")


def test_compare_help_lists_every_optimizer():
    from optlab.engine.optimizers import OPTIMIZERS

    text = " ".join(runner.invoke(app, ["compare", "--help"]).stdout.split())
    assert all(name in text for name in OPTIMIZERS), text


def test_user_text_is_not_read_as_markup_or_emoji(tmp_path):
    """rich reads ':-1:' as the thumbs-down emoji and '[bold]' as a style; a spec or a name the
    user wrote must come back as written."""
    config = tmp_path / "c.yaml"
    config.write_text("data: {name: spiral, size: 60, val_size: 20}\nmodel: {name: linear}\nloss: hinge\n"
                      "train: {epochs: 1}\n")
    result = runner.invoke(app, ["sweep", str(config), "--trials", "2", "optimizer.lr=lin:-1:1", "--quiet"])
    assert result.exit_code == 2
    assert "lin:-1:1" in result.output and "\N{THUMBS DOWN SIGN}" not in result.output


def test_terminal_tables_print_cells_literally():
    from rich.table import Table

    from optlab.terminal import _cells, make_console

    console = make_console()
    with console.capture() as captured:
        table = Table()
        table.add_column("value")
        table.add_row(*_cells(["lin:-1:1 [bold]x[/bold]"]))
        console.print(table)
    assert "lin:-1:1 [bold]x[/bold]" in captured.get()
