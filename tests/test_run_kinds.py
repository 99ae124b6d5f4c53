"""The kind of a run is one entry (optlab.config.kinds, optlab.training.kinds, optlab.record.kinds):
every run writes its kind to meta.json and summary.json, a directory from before runs recorded it
still reports (its kind derived from config.yaml), no module outside the registries tests the
config fields that decide the kind or sniffs metrics columns for it, and a full-batch run's loss
is called full-batch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import found_in_sources

from optlab.config.kinds import KINDS, kind_of, recorded_kind, run_kind
from optlab.config.loading import loads_config
from optlab.record.kinds import RECORDS, kind_in
from optlab.record.run_report import render_run
from optlab.record.rundir import read_metrics
from optlab.training.kinds import LOOPS
from optlab.training.run import run

DATA = ("data: {name: blobs, classes: 3, dims: 2, size: 60, val_size: 10, test_size: 10}\n"
        "model: {name: linear}\nloss: cross_entropy\n")
CONFIGS = {
    "gradient": DATA + "train: {iterations: 6, batch_size: 20, eval_every: 3}\n",
    "search": DATA + "search: {strategy: random, trials: 8, scale: 0.1}\ntrain: {iterations: 1}\n",
    "surface": "model: {name: surface, function: bowl, start: [-3, 2]}\n"
               "optimizer: {name: sgd, lr: 0.1}\ntrain: {iterations: 5}\n",
}


def test_every_kind_has_one_entry_on_each_side():
    assert set(KINDS) == set(LOOPS) == set(RECORDS)
    assert all(RECORDS[name].kind is KINDS[name] for name in KINDS)


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_a_run_writes_its_kind_to_meta_and_summary(kind, tmp_path):
    config = loads_config(f"name: {kind}\n" + CONFIGS[kind])
    assert config.kind.name == kind
    result = run(config, tmp_path, render=False)
    meta = json.loads((result.run_dir / "meta.json").read_text())
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert meta["kind"] == summary["kind"] == result.summary["kind"] == kind
    header = (result.run_dir / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == LOOPS[kind].columns     # the table's columns are what the loop writes


def _strip_kind(run_dir: Path) -> None:
    """Make ``run_dir`` look written before runs recorded their kind."""
    for name in ("meta.json", "summary.json"):
        data = json.loads((run_dir / name).read_text())
        del data["kind"]
        (run_dir / name).write_text(json.dumps(data))


@pytest.mark.parametrize("kind", ["search", "surface"])
def test_the_report_of_a_directory_without_a_kind_derives_it_from_its_config(kind, tmp_path):
    from typer.testing import CliRunner

    from optlab.cli import app

    result = run(loads_config("name: old\n" + CONFIGS[kind]), tmp_path, render=False)
    _strip_kind(result.run_dir)
    assert kind_in(result.run_dir).name == kind
    out = CliRunner().invoke(app, ["report", str(result.run_dir)])
    assert out.exit_code == 0, out.output
    text = (result.run_dir / "results.md").read_text()
    if kind == "surface":       # a path, not a data fit: no accuracy table, the path's own figure
        assert "distance to the minimum" in text and "accuracy" not in text
        assert (result.run_dir / "path.png").is_file()
    else:                       # a search's own lines, and each candidate's loss plotted
        assert "best loss (the search's)" in text and "final accuracy" in text
    assert "kind" not in json.loads((result.run_dir / "summary.json").read_text())   # the report only reads


def test_recorded_kind_prefers_what_the_run_wrote():
    surface = {"model": {"name": "surface", "function": "bowl"}}
    assert recorded_kind({"kind": "search"}, {"kind": "gradient"}, surface).name == "search"
    assert recorded_kind(None, {"kind": "gradient"}, surface).name == "gradient"
    assert recorded_kind(None, None, surface).name == "surface"
    assert recorded_kind(None, None, {"search": {"strategy": "local"}}).name == "search"
    assert recorded_kind(None, None, None).name == "gradient"
    assert run_kind({"model": "surface"}) is kind_of("surface", "gradient") is KINDS["surface"]


# The config fields that decide the kind, and the columns and summary keys the record side used
# to guess it from. Only the resolver (config/kinds.py) and the two tables may test them.
KIND_TESTS = [
    re.compile(r"""model(\.name|\.get\(["']name["']\)|\[["']name["']\])\s*[!=]=\s*["']surface["']"""),
    re.compile(r"""\.get\(["']name["']\)\s*[!=]=\s*["']surface["']"""),
    re.compile(r"""strategy\b[^=!\n]*[!=]=\s*["'](gradient|random|local)["']"""),
    re.compile(r"""\(\s*\w+\.strategy,"""),
    re.compile(r"""["']best_loss["']\s+(not\s+)?in\b"""),
    re.compile(r"""["'][xy]["']\s+(not\s+)?in\s+(m|metrics|first|t\.metrics)\b"""),
    re.compile(r"""["'](objective|accuracy|end|start)["']\s+(not\s+)?in\s+(result\.)?summary\b"""),
]
REGISTRIES = {"optlab/config/kinds.py", "optlab/training/kinds.py", "optlab/record/kinds.py"}


def kind_tests_in(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(p.search(line) for p in KIND_TESTS)]


def test_the_kind_tests_are_found_where_they_are_written():
    """The patterns catch the tests this module forbids (so the next test can fail)."""
    for line in ['if config.model.name == "surface":', 'if config.search.strategy != "gradient":',
                 'search = "best_loss" in runs[0]', 'if "best_loss" in m:', 'elif "x" in m:',
                 'if "objective" in summary:', 'if "accuracy" in result.summary:',
                 '(t.config.get("search") or {}).get("strategy", "gradient") == "gradient"',
                 '(t.config.get("model") or {}).get("name") == "surface"',
                 'if (search.strategy, search.gradient) != ("gradient", "analytic"):']:
        assert kind_tests_in(line), line
    assert not kind_tests_in('if not config.kind.learns_from_data:')


def test_no_module_outside_the_registries_tests_the_kind_of_a_run():
    found = found_in_sources(kind_tests_in, REGISTRIES)
    assert not found, found


def test_a_full_batch_run_says_full_batch_loss(tmp_path):
    """batch_size >= the training set (as L-BFGS needs): the figure, page and results say
    full-batch; a mini-batch run keeps saying mini-batch."""
    text = DATA + "train: {iterations: 6, batch_size: 1000, eval_every: 3}\noptimizer: {name: lbfgs}\n"
    full = run(loads_config("name: full\n" + text), tmp_path).run_dir
    mini = run(loads_config("name: mini\n" + CONFIGS["gradient"]), tmp_path).run_dir
    assert "final full-batch loss" in (full / "results.md").read_text()
    assert "final mini-batch loss" in (mini / "results.md").read_text()
    assert "full-batch loss" in (full / "report.html").read_text()
    assert "full-batch loss" not in (mini / "report.html").read_text()

    from optlab.record import compare_plots
    from optlab.record.compare_stats import load_trial

    def ylabel(*dirs):
        fig = compare_plots.loss_figure(["a"], [[load_trial(d) for d in dirs]], "t")
        return fig.axes[0].get_ylabel()

    assert ylabel(full) == "training loss (full-batch)"
    assert ylabel(mini) == "training loss (mini-batch)"
    assert ylabel(full, mini) == "training loss (full-batch or mini-batch)"
    m = {k: np.asarray(v) for k, v in read_metrics(full / "metrics.csv").items()}
    assert list(m["epoch"][1:]) == list(m["step"][1:])     # what tells it: one step per epoch


def test_render_run_of_an_old_gradient_directory(tmp_path):
    result = run(loads_config("name: old\n" + CONFIGS["gradient"]), tmp_path, render=False)
    _strip_kind(result.run_dir)
    render_run(result.run_dir)
    assert "final accuracy" in (result.run_dir / "results.md").read_text()
    assert (result.run_dir / "accuracy.png").is_file()


def test_an_old_trial_is_compared_as_the_kind_its_config_makes(tmp_path):
    """A comparison's trials from before runs recorded their kind: a search among them still puts
    every curve on the loss-evaluation axis, and its curve is its best loss so far."""
    from optlab.record.compare_plots import x_axis
    from optlab.record.compare_stats import TrialData

    steps = np.arange(4.0)
    search = TrialData(tmp_path, "completed", {}, {"step": steps, "loss_evals": steps, "loss": 4 - steps,
                                                   "best_loss": 4 - steps}, {"search": {"strategy": "local"}})
    gradient = TrialData(tmp_path, "completed", {}, {"step": steps, "loss_evals": steps, "loss": 4 - steps}, {})
    assert (search.kind.name, gradient.kind.name) == ("search", "gradient")
    assert x_axis([[search], [gradient]]) == "loss_evals"
    assert x_axis([[gradient]]) == "step"
    marked = TrialData(tmp_path, "completed", {"kind": "search"}, search.metrics, {})
    assert marked.kind.name == "search"      # what the run wrote wins over its (empty) config
