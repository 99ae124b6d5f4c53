"""What a user reads when something is off: each message names the word at fault once, in optlab's
own words, literally (never as rich markup), with counts and numbers written as people write them,
and no library warning leaking to the terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import REPO
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError
from optlab.record.run_report import facts
from optlab.record.sweep_report import search_method
from optlab.record.words import count, plain
from optlab.studies.sweep import make_plan

RUNNER = CliRunner()
QUICKSTART = REPO / "configs" / "quickstart.yaml"


def problems_of(words, **kw) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        make_plan(QUICKSTART, words, **kw)
    return [str(p) for p in exc.value.problems]


@pytest.mark.parametrize("word,grid,says", [
    ("optimizer.lr=log:1e-4", False, "'log:1e-4' is not a range: write log:LOW:HIGH, e.g. optimizer.lr=log:1e-4:1e-1"),
    ("optimizer.lr=lin:0.1", True, "'lin:0.1' is not a range: write lin:LOW:HIGH:N"),
    ("train.batch_size=int:8:16:32:64", True, "'int:8:16:32:64' is not a range: write int:LOW:HIGH"),
])
def test_a_malformed_sweep_spec_names_the_bad_word(word, grid, says):
    problems = problems_of([word], grid=grid, trials=None if grid else 3)
    assert len(problems) == 1 and f"sweep {word!r}" in problems[0] and says in problems[0], problems


@pytest.mark.parametrize("word", ["optimizer.lrr=log:1e-4:1", "optimizer.lrr=0.1,0.2,0.3"])
def test_an_unknown_key_is_reported_once_not_once_per_value(word):
    problems = problems_of([word], trials=3)
    assert len(problems) == 1 and "unknown key 'lrr'; did you mean 'lr'?" in problems[0]
    assert "(at " not in problems[0]


def test_a_value_wrong_at_some_ends_names_those_values():
    problems = problems_of(["optimizer.lr=-1,0.1,-2"], trials=3)
    assert [re.search(r"\(at .*\)$", p).group(0) for p in problems] == ["(at optimizer.lr=-1)", "(at optimizer.lr=-2)"]


def test_a_flow_mapping_without_spaces_hints_at_yaml_colon_rule(tmp_path):
    out = RUNNER.invoke(app, ["train", "quickstart", "model.init={name:normal,std:0.01}",
                              "--runs-dir", str(tmp_path)])
    assert out.exit_code == 2
    assert "unknown key 'name:normal': YAML needs a space after the colon" in out.output
    assert "write 'name: normal'" in out.output and "write 'std: 0.01'" in out.output


def test_a_bad_plot_option_in_report_gets_optlabs_words_not_pydantics(tiny_config, tmp_path):
    runs = tmp_path / "runs"
    assert RUNNER.invoke(app, ["train", str(tiny_config), "--runs-dir", str(runs), "-q"]).exit_code == 0
    run = next(runs.iterdir())
    out = RUNNER.invoke(app, ["report", str(run), "plots.x=weeks"])
    assert out.exit_code == 2
    assert "plots.x  must be 'steps', 'epochs', 'examples', 'seconds' or 'evaluations' (got 'weeks')" in out.output
    assert "Input should" not in out.output


def test_counts_and_quantities_read_as_words():
    assert (count(1, "trial"), count(0, "trial"), count(3, "trial")) == ("1 trial", "0 trials", "3 trials")
    assert [plain(v) for v in (3000.0, 2.5, 0.0001234, 1234.5)] == ["3000", "2.5", "0.000123", "1230"]
    assert search_method({"mode": "random", "trials": [{}], "seed": 0}).startswith("random search, 1 trial,")
    assert dict(facts({"steps": 30000, "epochs": 3000.0}))["steps"] == "30000 (3000 epochs)"


def test_messages_are_printed_literally_never_as_markup(tmp_path):
    """A user's word that looks like rich markup reaches the terminal as typed."""
    out = RUNNER.invoke(app, ["data", "download", "[red]x[/red]", "--root", str(tmp_path)])
    assert out.exit_code == 2 and "unknown dataset '[red]x[/red]'" in out.output
    out = RUNNER.invoke(app, ["recipes", "show", "[bold]q[/bold]"])
    assert out.exit_code == 2 and "[bold]q[/bold]" in out.output


def test_paths_that_look_like_markup_are_printed_as_typed(tmp_path):
    """A folder or config file named with brackets ("[bold red]") keeps them in every table,
    title and error line of ``optlab data`` and ``optlab gradcheck``."""
    wide = {"COLUMNS": "250"}
    root = tmp_path / "[bold red]data"
    out = RUNNER.invoke(app, ["data", "list", "--root", str(root)], env=wide)
    assert out.exit_code == 0 and f"data directory: {root}" in out.output
    assert str(root / "mnist") in out.output     # the table's folder cell, not only the heading
    config = tmp_path / "[bold red]q.yaml"
    config.write_text(QUICKSTART.read_text())
    out = RUNNER.invoke(app, ["gradcheck", str(config), "--samples", "1", "--examples", "2"], env=wide)
    assert out.exit_code == 0 and f"gradient check of {config}" in out.output
    out = RUNNER.invoke(app, ["gradcheck", str(tmp_path / "[red]missing.yaml")], env=wide)
    assert out.exit_code == 2 and f"{tmp_path / '[red]missing.yaml'}" in out.output

def test_one_printer_for_errors():
    """Every `error:` line goes through optlab.terminal.print_error (which prints text, not markup)."""
    found = [f"{p.relative_to(REPO)}:{n}" for p in sorted((REPO / "optlab").rglob("*.py")) if p.name != "terminal.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if "[bold red]" in line or "[red]" in line]
    assert not found, found


def test_a_diverging_rosenbrock_comparison_leaks_no_matplotlib_warning(tmp_path):
    """Nesterov at optlab's default rate diverges on Rosenbrock; its f-along-the-path figure must not
    make matplotlib warn about ticks at 1e300 (the subprocesses inherit the warnings filter)."""
    env = {**os.environ, "PYTHONWARNINGS": "default", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "optlab", "compare", "sgd", "nesterov", "--config", "rosenbrock",
                           "--runs-dir", str(tmp_path), "-q"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1 and "diverged trials/nesterov-s0" in proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("name", ["adamm", "xyz"])
def test_an_unknown_optimizer_hides_neither_its_line_nor_the_sections_other_problems(tiny_config, name):
    """Closest name (adamm -> adam) or none (xyz: a problem every optimizer would have): lr=-1 is
    reported, and the name's problem is at optimizer.name, not at the optimizer mapping."""
    from optlab.config.loading import load_config

    with pytest.raises(ConfigError) as exc:
        load_config(tiny_config, [f"optimizer.name={name}", "optimizer.lr=-1"])
    keys = [p.key for p in exc.value.problems]
    assert keys == ["optimizer.name", "optimizer.lr"], exc.value.problems
    assert "must be greater than 0 (got -1)" in exc.value.problems[1].message
