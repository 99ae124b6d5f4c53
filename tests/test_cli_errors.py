"""Exit codes and tracebacks at the command line: bad usage exits 2 with the usage line; an
unexpected error is one line and exit 1, with the traceback only under --debug (any command)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import REPO, TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app

runner = CliRunner()


@pytest.mark.parametrize("args,says", [
    (["trian", "quickstart"], "No such command 'trian'"),
    (["train", "quickstart", "--bogus"], "No such option: --bogus"),
    (["--nonsense"], "No such option"),
])
def test_bad_usage_exits_2_with_the_usage_line(args, says):
    proc = subprocess.run([sys.executable, "-m", "optlab", *args], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "Usage: python -m optlab" in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("command,what", [("train", "to train"), ("sweep", "every trial starts from")])
def test_train_and_sweep_without_a_config_say_it_the_same_way(command, what):
    """No click usage block for one and optlab's own line for the other: one voice, exit 2."""
    result = runner.invoke(app, [command])
    assert result.exit_code == 2
    assert result.output.startswith(f"error: give the CONFIG {what}: a recipe's name (optlab recipes lists them) "
                                    "or a YAML file (or --resume ")
    assert "Usage:" not in result.output


def test_an_option_without_its_value_exits_2():
    """click raises this one without a context, so it has no usage line (upstream behaviour)."""
    proc = subprocess.run([sys.executable, "-m", "optlab", "train", "quickstart", "--resume"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "Option '--resume' requires an argument." in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_config_that_cannot_be_built_is_bad_input(tmp_path):
    """Validates, but the neuron takes one input and the spiral has two: exit 2, no run dir."""
    config = tmp_path / "c.yaml"
    config.write_text(TINY_CONFIG.replace("{name: mlp, hidden: [16], activation: relu}", "neuron")
                      .replace("loss: cross_entropy", "loss: quadratic"))
    result = runner.invoke(app, ["train", str(config), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2 and "takes one input feature; the data has 2" in result.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


# A bug inside a command, simulated in a real process: experiment.run raises, and a command that
# catches nothing (as commands on other branches may not) raises too.
BUGGY = """
import sys
import optlab.training.run
from optlab.cli import app, main

def boom(*args, **kwargs):
    raise RuntimeError("boom")
optlab.training.run.run = boom

@app.command()
def explode() -> None:
    raise ValueError("kaboom")

sys.argv = ["optlab", *sys.argv[1:]]
main()
"""


def buggy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUGGY, *args], capture_output=True, text=True, cwd=REPO)


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "c.yaml"
    path.write_text(TINY_CONFIG)
    return str(path)


def test_an_unexpected_error_is_one_line_without_debug(config, tmp_path):
    proc = buggy("train", config, "--quiet", "--runs-dir", str(tmp_path))
    assert proc.returncode == 1 and "RuntimeError: boom" in proc.stderr and "Traceback" not in proc.stderr
    proc = buggy("explode")
    assert proc.returncode == 1 and "ValueError: kaboom" in proc.stderr and "Traceback" not in proc.stderr
    assert "--debug" in proc.stderr, "says how to see the traceback"


@pytest.mark.parametrize("where", ["command", "root"])
def test_debug_shows_the_traceback_for_every_command(config, tmp_path, where):
    train = ["train", config, "--quiet", "--runs-dir", str(tmp_path)]
    proc = buggy(*(train + ["--debug"] if where == "command" else ["--debug", *train]))
    assert proc.returncode == 1
    assert "Traceback (most recent call last)" in proc.stderr and "RuntimeError: boom" in proc.stderr
    proc = buggy("--debug", "explode")
    assert "Traceback (most recent call last)" in proc.stderr and "ValueError: kaboom" in proc.stderr
