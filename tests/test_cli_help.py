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


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_defaults_env_vars_and_ranges_are_written_one_way(command):
    """After an option's help, one bracket: ``[default: X; env var: NAME; at least N]``; no default
    as prose, no parenthesised default, no click range notation, no bracketed choice metavar, no
    TEXT/PATH placeholder where a name says more."""
    text = runner.invoke(app, [*command, "--help"], terminal_width=400).stdout
    options = text.split("Options:", 1)[-1]
    assert "(default" not in text and "default: (" not in text, text
    assert not re.search(r"x\s*[<>]=?\s*\d", text), f"click's range notation in:\n{text}"
    assert not re.search(r"--\S+ \[[a-z]+\|", options), f"a bracketed choice metavar in:\n{text}"
    assert not re.search(r"--\S+ (TEXT|PATH)\b", options), f"a placeholder that says nothing in:\n{text}"
    for bracket in re.findall(r"  \[([^\]]*)\]$", options, re.M):
        for part in bracket.split("; "):
            assert re.match(r"(default: |env var: |at least |at most |above |required$|\S+ to \S+$)", part), \
                f"[{bracket}] in:\n{text}"


def test_one_option_name_means_one_thing():
    """`--grid` is the sweep's grid search; the rates --tune tries and the landscape's resolution
    have names of their own."""
    meanings = {}
    for command in commands():
        import typer.main

        group = typer.main.get_command(app)
        for name in command:
            group = group.commands[name]
        for param in group.params:
            for opt in getattr(param, "opts", []):
                meanings.setdefault(opt, set()).add(" ".join(command))
    assert meanings["--grid"] == {"sweep"}
    assert meanings["--lr-grid"] == {"compare"} and meanings["--resolution"] == {"landscape"}


def test_the_root_help_shows_each_summary_whole():
    """`optlab --help` lists each command's whole first paragraph, ending its sentence, not a line
    cut mid-sentence (the sweep's stopped at "trials in parallel,")."""
    import typer.main

    text = " ".join(runner.invoke(app, ["--help"], terminal_width=100).stdout.split())
    for name, cmd in typer.main.get_command(app).commands.items():
        summary = " ".join(cmd.get_short_help_str(limit=10_000).split())
        assert summary.endswith("."), (name, summary)
        assert f"{name} {summary}" in text, (name, summary)
    assert "trials in parallel, a leaderboard by validation accuracy." in text


def test_sweep_trials_help_is_about_random_search_and_compare_seeds_says_when_bands_appear():
    sweep = " ".join(runner.invoke(app, ["sweep", "--help"], terminal_width=400).stdout.split())
    trials = re.search(r"--trials N (.*?) --grid", sweep).group(1)
    assert "a random search draws N; with --sampler, the sampler proposes N" in trials, trials
    assert "optlab[tune]" not in sweep and '".[tune]"' in sweep
    compare = " ".join(runner.invoke(app, ["compare", "--help"], terminal_width=400).stdout.split())
    assert "2 or more mean ± std bands" in compare


@pytest.mark.parametrize("group", ["recipes", "data"])
def test_a_listing_group_lists_alone_and_with_list(group, monkeypatch, tmp_path):
    monkeypatch.setenv("OPTLAB_DATA_DIR", str(tmp_path))
    alone, listed = runner.invoke(app, [group]), runner.invoke(app, [group, "list"])
    assert alone.exit_code == 0 and listed.exit_code == 0, (alone.output, listed.output)
    assert alone.stdout == listed.stdout and alone.stdout.strip()
