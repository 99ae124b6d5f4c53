"""The broken-config corpus (issue #9): every mistake is exit code 2, every problem at once with
file:line (or the override) and the key path, no traceback and no run directory.

Each file in tests/broken_configs/ opens with a comment saying what is wrong, then one line per
expected problem, in the order they are reported:

    # expect: LINE KEY | FRAGMENT

LINE is the 1-based line the problem must point at (``-``: the file as a whole), KEY the dotted
key path (``-``: none), FRAGMENT a piece of the message. The count must match exactly, so a file
that reports an extra or a missing problem fails. Mistakes that are not files (a directory, a
missing file, bad overrides) are in the tables below.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config

CORPUS = sorted((Path(__file__).parent / "broken_configs").glob("*.yaml"))
runner = CliRunner()


def expectations(path: Path) -> list[tuple[str | None, str, str]]:
    out = []
    for raw in path.read_bytes().splitlines():
        if raw.startswith(b"# expect: "):
            spec, _, fragment = raw[len(b"# expect: "):].decode("ascii").partition(" | ")
            line, key = spec.split()
            out.append((None if line == "-" else line, "" if key == "-" else key, fragment))
    return out


def cli_train(*args: str, runs: Path):
    return runner.invoke(app, ["train", *args, "--runs-dir", str(runs), "--quiet"])


def assert_bad_input(result, runs: Path) -> None:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), "a clean exit, not an exception"
    assert "Traceback" not in result.output
    assert not runs.exists(), "no run directory for a config that does not validate"


def test_the_corpus_covers_the_issue():
    assert len(CORPUS) >= 40
    for path in CORPUS:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_broken_config(path: Path, tmp_path: Path):
    expected = expectations(path)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert [(p.where, p.key) for p in problems] == [
        (str(path) if line is None else f"{path}:{line}", key) for line, key, _ in expected]
    for problem, (_, _, fragment) in zip(problems, expected):
        assert fragment in problem.message, str(problem)

    runs = tmp_path / "runs"
    result = cli_train(str(path), runs=runs)
    assert_bad_input(result, runs)
    for problem in problems:
        assert str(problem) in result.output


@pytest.mark.parametrize("override,key,fragment", [
    ("lr0.1", "", "expected KEY=VALUE"),
    ("=1", "", "expected a dotted key"),
    ("model.hidden=[", "model.hidden", "YAML syntax error"),
    ("optimizer.lr=", "optimizer.lr", "no value after '='"),
    ("optimizer..lr=1", "optimizer..lr", "expected a dotted key"),
    ("optimizer.lrr=0.1", "optimizer.lrr", "did you mean 'lr'?"),
    ("optimizer.lr=-1", "optimizer.lr", "must be greater than 0 (got -1)"),
    ("seed.value=1", "seed.value", "seed is a int, not a section"),
    ("train.batch_size=many", "train.batch_size", "must be an integer, not a string"),
    ("optimizer=adamx", "optimizer", "unknown optimizer 'adamx'"),
])
def test_bad_override(tmp_path: Path, override: str, key: str, fragment: str):
    config = tmp_path / "ok.yaml"
    config.write_text(TINY_CONFIG)
    with pytest.raises(ConfigError) as info:
        load_config(config, [override])
    (problem,) = info.value.problems
    assert problem.where == f"override {override!r}" and problem.key == key
    assert fragment in problem.message
    runs = tmp_path / "runs"
    result = cli_train(str(config), override, runs=runs)
    assert_bad_input(result, runs)
    assert str(problem) in result.output


def test_file_and_override_problems_are_reported_together(tmp_path: Path):
    runs = tmp_path / "runs"
    result = cli_train(str(Path(__file__).parent / "broken_configs" / "negative_lr.yaml"), "lr0.1", "seed=-2", runs=runs)
    assert_bad_input(result, runs)
    assert "3 problems" in result.output
    assert "negative_lr.yaml:8  optimizer.lr" in result.output
    assert "override 'lr0.1'" in result.output and "override 'seed=-2'  seed" in result.output


@pytest.mark.parametrize("make,fragment", [
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: tmp / "missing.yaml", "no such file"),
])
def test_not_a_config_file(tmp_path: Path, make, fragment: str):
    runs = tmp_path / "runs"
    target = make(tmp_path)
    result = cli_train(str(target), runs=runs)
    assert_bad_input(result, runs)
    assert f"{target}  {fragment}" in result.output


@pytest.mark.parametrize("args", [["tests/broken_configs/three_problems.yaml"],
                                  ["quickstart", "model.hidden=["]])
def test_a_real_process_prints_no_traceback(tmp_path: Path, args):
    """The console entry point, not the test runner: exit status 2 and a clean stderr."""
    from conftest import REPO

    runs = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "optlab", "train", *args, "--runs-dir", str(runs)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr
    assert not runs.exists()
