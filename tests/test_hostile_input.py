"""Hostile config input (issue #14): strict types, resource-safe parsing, overrides that name
themselves, and configs that validate but cannot be built.

Two kinds of test:

- property-based (hypothesis): YAML scalars of every tag in every kind of field, nesting of any
  depth, arbitrary override strings: the loader returns a config whose values have exactly the
  field's type, or raises ConfigError; never anything else, never a value of another type;
- the held-out corpus, ``tests/hostile/*.yaml`` (each opens with what is wrong and an
  ``# expect: KEY | FRAGMENT`` line) plus cases generated here that cannot be files in git (a
  FIFO, a link to /dev/zero, a 300-character name, 20 000 brackets, a 5 000-digit integer, a
  file over the size bound), run through the real command line in child processes: each must
  exit 2, print no traceback, create no run directory, and leave a run written before it
  byte-for-byte unchanged (benchmarks/hostile_parse.py measures how fast: milliseconds).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from forked_cli import optlab, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optlab.config.loading import ConfigError, load_config, loads_config
from optlab.config.safe_yaml import MAX_BYTES

CORPUS = sorted((Path(__file__).parent / "hostile").glob("*.yaml"))
BASE = """\
name: hostile
data: {name: spiral, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [16]}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.1}
train: {batch_size: 30, iterations: 5}
"""
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ------------------------------------------------------------------------------------------------
# strict types, property-based
# ------------------------------------------------------------------------------------------------
# YAML scalars of every tag a hand-written config may hold, as the text a user types
_WORDS = ["true", "false", "True", "FALSE", "yes", "no", "on", "off", "y", "n", "null", "~", "1:30", "-1:30:00",
          "0x1F", "0o17", "010", "0b101", "1_000", "1e3", "1.5", ".inf", "-.inf", ".nan", "2001-12-14",
          "2001-12-14t21:59:43.10-05:00", "=", "<<", "'5'", '"0.1"', "[]", "{}", "[true, 16]", "[1, 2.5]"]
_TAGGED = ["!!set {a, b}", "!!binary aGk=", "!!omap [a: 1]", "!!pairs [a: 1]", "!!timestamp 2001-12-14",
           "!!str 5", "!!int '7'", "!!float '1:30'", "!!bool yes", "!!int 1:30", "!!null ''", "!custom 3",
           "!!python/name:os.system", "!!float 0.25", "!!int 12"]
scalars = st.one_of(
    st.sampled_from(_WORDS + _TAGGED),
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12).map(repr),
)
FIELDS = {   # key path -> the exact type a loaded config holds there
    ("seed",): int, ("optimizer", "lr"): float, ("train", "batch_size"): int, ("train", "iterations"): int,
    ("model", "hidden", 0): int, ("data", "size"): int, ("name",): str,
}


def _with(field: tuple, text: str) -> str:
    key = ".".join(str(k) for k in field)
    return {
        "seed": BASE + f"seed: {text}\n",
        "optimizer.lr": BASE.replace("lr: 0.1", f"lr: {text}"),
        "train.batch_size": BASE.replace("batch_size: 30", f"batch_size: {text}"),
        "train.iterations": BASE.replace("iterations: 5", f"iterations: {text}"),
        "model.hidden.0": BASE.replace("hidden: [16]", f"hidden: [{text}]"),
        "data.size": BASE.replace("size: 120", f"size: {text}"),
        "name": BASE.replace("name: hostile", f"name: {text}"),
    }[key]


def _get(config, field: tuple):
    value = config
    for key in field:
        value = value[key] if isinstance(key, int) else getattr(value, key)
    return value


@SETTINGS
@given(field=st.sampled_from(sorted(FIELDS)), text=scalars)
def test_a_scalar_of_any_tag_loads_as_the_fields_type_or_is_refused(field, text):
    try:
        config = loads_config(_with(field, text), "c.yaml")
    except ConfigError as exc:
        assert all(p.where.startswith("c.yaml") for p in exc.problems)
        return
    value = _get(config, field)
    assert type(value) is FIELDS[field], f"{text!r} at {field} loaded as {value!r}"
    if text.strip().lower() in ("true", "false", "yes", "no", "on", "off"):
        assert FIELDS[field] is str, "a boolean is never a number"


@SETTINGS
@given(depth=st.integers(0, 400), flow=st.booleans())
def test_nesting_of_any_depth_is_refused_or_loaded_never_a_crash(depth, flow):
    value = "[" * depth + "16" + "]" * depth if flow else "16"
    text = BASE.replace("hidden: [16]", f"hidden: {value}")
    if not flow:   # block style: a mapping nested `depth` levels under an unknown key
        text += "".join(f"{'  ' * i}k{i}:\n" for i in range(depth)) + f"{'  ' * depth}leaf: 1\n" if depth else ""
    start = time.monotonic()
    try:
        loads_config(text, "c.yaml")
    except ConfigError as exc:
        if depth > 32:    # (a block-style document that deep is also over the size bound)
            assert any("nested more than 32 levels" in p.message or "a config may be at most" in p.message
                       for p in exc.problems)
    assert time.monotonic() - start < 2


override_strings = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(
        ["seed", "optimizer.lr", "train.batch_size", "model.hidden", "unknown.key", "data.name.foo", "optimizer",
         "data.name", "train", "model.hidden.x", "name", "loss.name"]), scalars),
)


@SETTINGS
@given(text=override_strings)
def test_an_override_problem_is_reported_at_the_override(tiny_config, text):
    """The tiny config is valid, so whatever goes wrong comes from the override, and says so."""
    try:
        load_config(tiny_config, [text])
    except ConfigError as exc:
        for problem in exc.problems:
            assert problem.where == f"override {text!r}", str(problem)


@pytest.mark.parametrize("override,key,fragment", [
    ("train.batch_size=yes", "train.batch_size", "must be an integer, not a string ('yes')"),
    ("seed=true", "seed", "must be an integer, not a boolean (true)"),
    ("optimizer.lr=true", "optimizer.lr", "must be a number, not a boolean"),
    ("model.hidden=[true, 16]", "model.hidden.0", "must be an integer, not a boolean"),
    ("optimizer.lr=1:30", "optimizer.lr", "base-60"),
    ("unknown.key=1", "unknown", "unknown key 'unknown'"),
    ("data.name.foo=1", "data.name", "unknown data"),
    ("model.hidden=!!set {16}", "model.hidden", "tag !!set is not allowed"),
])
def test_override_mistakes_name_the_override(tiny_config, override, key, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(tiny_config, [override])
    (problem,) = info.value.problems
    assert (problem.where, problem.key) == (f"override {override!r}", key)
    assert fragment in problem.message


def test_yaml_12_scalars_that_yaml_11_reads_otherwise():
    config = loads_config(BASE.replace("name: hostile", "name: no").replace("iterations: 5", "iterations: 010"))
    assert config.name == "no" and config.train.iterations == 10    # not False, not octal 8
    assert loads_config(BASE.replace("lr: 0.1", "lr: 1")).optimizer.lr == 1.0    # an integer is a number
    whole = loads_config(BASE.replace("iterations: 5", "iterations: 1e4"))          # a whole float is a count
    assert whole.train.iterations == 10_000 and type(whole.train.iterations) is int
    surface = loads_config("model: {name: surface, function: bowl, start: [-7, 2]}\ntrain: {iterations: 3}\n")
    assert surface.model.start == (-7.0, 2.0)     # a YAML list for a fixed-length field, strict or not


# ------------------------------------------------------------------------------------------------
# the corpus, through the real command line
# ------------------------------------------------------------------------------------------------
def _expectation(path: Path) -> tuple[str, str]:
    for line in path.read_text().splitlines():
        if line.startswith("# expect: "):
            key, _, fragment = line[len("# expect: "):].partition(" | ")
            return ("" if key == "-" else key), fragment
    raise AssertionError(f"{path.name} has no '# expect:' line")


def _generated(folder: Path) -> list[tuple[str, list[str], str]]:
    """(case, the arguments after `optlab train`, a fragment of the message) for the cases that
    cannot be files in git."""
    cases = []
    folder.mkdir()
    deep = folder / "deep_brackets.yaml"
    deep.write_text(BASE.replace("hidden: [16]", "hidden: " + "[" * 20_000 + "]" * 20_000))
    cases.append(("20 000 nested brackets", [str(deep)], "nested more than 32 levels"))
    wide = folder / "wide_list.yaml"
    wide.write_text(BASE + "extra: [" + ",".join(["1"] * 30_000) + "]\n")
    cases.append(("30 000 values in one list", [str(wide)], "more than 2000 values"))
    digits = folder / "long_int.yaml"
    digits.write_text(BASE + "seed: " + "9" * 5000 + "\n")
    cases.append(("a 5 000-digit integer", [str(digits)], "an integer of 5000 digits"))
    big = folder / "big.yaml"
    big.write_text(BASE + "# " + "x" * MAX_BYTES + "\n")
    cases.append(("a file over the size bound", [str(big)], f"a config may be at most {MAX_BYTES}"))
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    cases.append(("a FIFO", [str(fifo)], "is a FIFO"))
    zero = folder / "zero.yaml"
    zero.symlink_to("/dev/zero")
    cases.append(("a link to /dev/zero", [str(zero)], "is a character device"))
    cases.append(("a 300-character file name", [str(folder / ("c" * 300 + ".yaml"))], "File name too long"))
    cases.append(("a directory", [str(folder)], "is a directory"))
    ok = folder / "ok.yaml"
    ok.write_text(TINY_CONFIG)
    cases.append(("train.batch_size=yes", [str(ok), "train.batch_size=yes"], "override 'train.batch_size=yes'"))
    cases.append(("unknown.key=1", [str(ok), "unknown.key=1"], "override 'unknown.key=1'"))
    cases.append(("data.name.foo=1", [str(ok), "data.name.foo=1"], "override 'data.name.foo=1'"))
    cases.append(("a 5 000-digit override", [str(ok), "seed=" + "7" * 5000], "an integer of 5000 digits"))
    return cases


def test_the_hostile_corpus_is_refused_by_the_command_line(tmp_path):
    """Every case: exit 2, no traceback, no run directory, a run written before unchanged."""
    runs = tmp_path / "runs"
    earlier = runs / "2026-01-01_000000_earlier"        # a run written before: must stay as it is
    earlier.mkdir(parents=True)
    (earlier / "meta.json").write_text('{"status": "completed"}\n')
    (earlier / "metrics.csv").write_text("step,loss\n0,1.0\n")
    before = snapshot(runs)
    cases = [(p.name, [str(p)], _expectation(p)[1]) for p in CORPUS] + _generated(tmp_path / "gen")
    assert len(cases) >= 25
    for name, args, fragment in cases:
        code, output, seconds = optlab("train", *args, "--runs-dir", str(runs), "-q", cwd=tmp_path, timeout=60)
        assert code == 2, f"{name}: exit {code}\n{output}"
        assert "Traceback" not in output, f"{name}:\n{output}"
        assert fragment in output, f"{name}: {fragment!r} not in\n{output}"
        assert snapshot(runs) == before, f"{name}: the runs directory changed"
        # not a speed test (benchmarks/hostile_parse.py measures: milliseconds each); a guard against
        # the hangs and the 34-second alias bomb this corpus was made of
        assert seconds < 10, f"{name}: {seconds:.1f} s"


def test_the_corpus_names_what_it_tests():
    for path in CORPUS:
        assert path.read_text().startswith("# "), f"{path.name}: open with what is wrong"
        _expectation(path)


@pytest.mark.parametrize("case", ["billion_laughs.yaml", "fifo"])
def test_hostile_input_in_a_fresh_interpreter(tmp_path, case):
    """Two cases through `python -m optlab` itself: the entry point a user runs."""
    import subprocess
    import sys

    if case == "fifo":
        path = tmp_path / "fifo.yaml"
        os.mkfifo(path)
    else:
        path = Path(__file__).parent / "hostile" / case
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "optlab", "train", str(path), "--runs-dir", str(tmp_path / "runs")],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert not (tmp_path / "runs").exists()
    assert time.monotonic() - start < 30
