"""`optlab compare` end to end on tiny synthetic configs: fairness, parallel = serial, the files of
a comparison and their numbers, `optlab report`, --tune lr, --vary, and bad input (exit 2)."""

from __future__ import annotations

import csv
import html
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_numbers
from typer.testing import CliRunner

import optlab.training.gradient_loop as gradient_loop
import optlab.training.run as experiment
import optlab.training.setup as training_setup
from optlab.cli import app
from optlab.config.loading import load_config
from optlab.record.rundir import read_metrics
from optlab.studies.compare import make_plan, run_compare
from optlab.studies.study import StudySession
from optlab.studies.variants import build_variants

CONFIG = """\
name: tiny
seed: 4
data: {name: blobs, classes: 3, size: 150, val_size: 30, test_size: 60, std: 2.0}
model: {name: mlp, hidden: [8]}
loss: cross_entropy
optimizer: {name: sgd, lr: 0.05}
train: {batch_size: 20, iterations: 24, eval_every: 6, dtype: float64}
"""
VARIANTS = ["sgd", "adam:lr=0.02"]
SEEDS = 2
TARGET = 0.6


RUNNER = CliRunner(env={"COLUMNS": "200"})   # wide enough that rich does not fold the table


def write_config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return path


def plan_for(path: Path, words=VARIANTS, vary=None, **options):
    base, varied, variants = build_variants(path, list(words), vary)
    return make_plan(variants, base, varied, source={"config": str(path), "overrides": []}, **options)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """One serial comparison, recording each trial's initial weights and mini-batch order."""
    tmp = tmp_path_factory.mktemp("serial")
    path = write_config(tmp)
    weights, orders = [], []
    real_build, real_sampler = training_setup.build_model, gradient_loop.BatchSampler

    def build_model(*args, **kwargs):
        model = real_build(*args, **kwargs)
        weights.append(model.flat_params.copy())
        return model

    class RecordingSampler(real_sampler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.recorded: list = []
            orders.append(self.recorded)

        def __next__(self):
            epoch, idx = super().__next__()
            self.recorded.append(idx.copy())
            return epoch, idx

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training_setup, "build_model", build_model)
        mp.setattr(gradient_loop, "BatchSampler", RecordingSampler)
        result = run_compare(plan_for(path, seeds=SEEDS, target=TARGET), tmp / "runs", StudySession.local(1))
    return result, path, weights, orders


def trial_dirs(compare_dir: Path) -> dict[str, Path]:
    manifest = json.loads((compare_dir / "compare.json").read_text())
    return {d: compare_dir / d for v in manifest["variants"] for d in v["trials"]}


def test_fair_same_initial_weights_and_batches_within_a_seed(serial):
    _, _, weights, orders = serial
    # serial trials run seed-major: seed 4 (sgd, adam), then seed 5 (sgd, adam)
    n = len(VARIANTS)
    assert len(weights) == len(orders) == n * SEEDS
    for s in range(SEEDS):
        group = range(s * n, (s + 1) * n)
        for i in group:
            np.testing.assert_array_equal(weights[i], weights[s * n])
            assert len(orders[i]) == 24
            for a, b in zip(orders[i], orders[s * n]):
                np.testing.assert_array_equal(a, b)
    assert not np.array_equal(weights[0], weights[n])               # another seed, other weights
    assert not all(np.array_equal(a, b) for a, b in zip(orders[0], orders[n]))
    # the first step sees the same weights and batch, so the same loss, whatever the optimizer
    first = {d: read_metrics(p / "metrics.csv")["loss"][1] for d, p in trial_dirs(serial[0].path).items()}
    assert len({v for d, v in first.items() if d.endswith("-s4")}) == 1


def test_comparison_holds_a_run_directory_per_trial_and_its_reports(serial):
    result = serial[0]
    assert result.status == "completed" and result.failed == []
    names = {p.name for p in result.path.iterdir()}
    assert {"compare.json", "config.yaml", "loss.png", "accuracy.png", "results.md", "results.csv", "trials"} <= names
    dirs = trial_dirs(result.path)
    assert sorted(dirs) == sorted(f"trials/{v}-s{s}" for v in ("sgd", "adam_lr_0.02") for s in (4, 5))
    for d in dirs.values():
        assert {"config.yaml", "meta.json", "metrics.csv", "summary.json", "loss.png", "accuracy.png",
                "results.md"} <= {p.name for p in d.iterdir()}
        assert json.loads((d / "meta.json").read_text())["status"] == "completed"


def test_trial_is_exactly_what_train_gives(serial, tmp_path):
    """docs/conventions.md: the same config and seed give identical metrics alone or in a comparison."""
    trial = trial_dirs(serial[0].path)["trials/adam_lr_0.02-s5"]
    config = load_config(trial / "config.yaml")
    assert (config.seed, config.optimizer.name, config.optimizer.lr) == (5, "adam", 0.02)
    alone = experiment.run(config, tmp_path, command=["test"])
    assert run_numbers(alone.run_dir) == run_numbers(trial)


def test_parallel_equals_serial(serial, tmp_path):
    result, path, _, _ = serial
    parallel = run_compare(plan_for(path, seeds=SEEDS, target=TARGET), tmp_path, StudySession.local(2))
    serial_dirs, parallel_dirs = trial_dirs(result.path), trial_dirs(parallel.path)
    assert sorted(serial_dirs) == sorted(parallel_dirs)
    for name in serial_dirs:
        assert run_numbers(serial_dirs[name]) == run_numbers(parallel_dirs[name]), name
    def strip(text: str) -> list:   # drop the columns that are wall times (how long, and seconds to target)
        rows = list(csv.reader(text.splitlines()))
        keep = [i for i, name in enumerate(rows[0]) if not name.startswith(("wall_time", "seconds_to_target"))]
        return [[r[i] for i in keep] for r in rows]

    assert strip((result.path / "results.csv").read_text()) == strip((parallel.path / "results.csv").read_text())


def test_table_numbers_are_the_mean_and_std_of_the_trials(serial):
    result = serial[0]
    rows = {r["variant"]: r for r in csv.DictReader((result.path / "results.csv").open())}
    assert list(rows) == VARIANTS
    best = max(VARIANTS, key=lambda v: float(rows[v]["final_val_acc_mean"]))
    for label, slug in zip(VARIANTS, ("sgd", "adam_lr_0.02")):
        runs = [result.path / "trials" / f"{slug}-s{s}" for s in (4, 5)]
        summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
        val = [s["accuracy"]["val"]["final"] for s in summaries]
        assert float(rows[label]["final_val_acc_mean"]) == pytest.approx(np.mean(val))
        assert float(rows[label]["final_val_acc_std"]) == pytest.approx(np.std(val, ddof=1))
        loss = [s["final_train_loss"] for s in summaries]
        assert float(rows[label]["final_train_loss_mean"]) == pytest.approx(np.mean(loss))
        test = [s["accuracy"]["test"]["final"] for s in summaries]
        assert float(rows[label]["test_acc_mean"]) == pytest.approx(np.mean(test))
        reached = []
        for r in runs:
            m = read_metrics(r / "metrics.csv")
            hits = [s for s, a in zip(m["step"], m["val_acc"]) if not math.isnan(a) and a >= TARGET]
            reached.append(int(hits[0]) if hits else None)
        assert rows[label]["target_reached_seeds"] == str(sum(h is not None for h in reached))
        if all(h is not None for h in reached):
            assert float(rows[label]["steps_to_target_mean"]) == pytest.approx(np.mean(reached))
        else:
            assert rows[label]["steps_to_target_mean"] == ""
        assert rows[label]["best"] == str(int(label == best))
        assert float(rows[label]["lr"]) == {"sgd": 0.05, "adam:lr=0.02": 0.02}[label]
    md = (result.path / "results.md").read_text()
    assert f"| {best} ★ |" in md and md.count("★") == 2          # the row, and the legend line
    assert "| steps to 60.0 % |" in md and " ± " in md


def test_report_rebuilds_byte_identical_tables(serial):
    result = serial[0]
    before = {n: (result.path / n).read_bytes() for n in ("results.md", "results.csv")}
    trial = trial_dirs(result.path)["trials/sgd-s4"]
    trial_md = (trial / "results.md").read_bytes()
    for name in ("results.md", "results.csv", "loss.png", "accuracy.png"):
        (result.path / name).unlink()
    (trial / "results.md").unlink()
    out = RUNNER.invoke(app, ["report", str(result.path)])
    assert out.exit_code == 0, out.output
    assert {n: (result.path / n).read_bytes() for n in before} == before
    assert (trial / "results.md").read_bytes() == trial_md
    assert (result.path / "loss.png").stat().st_size > 0 and (result.path / "accuracy.png").stat().st_size > 0
    assert "adam:lr=0.02" in out.output and "★" in out.output


def test_report_of_a_single_run(serial):
    trial = trial_dirs(serial[0].path)["trials/sgd-s5"]
    (trial / "loss.png").unlink()
    out = RUNNER.invoke(app, ["report", str(trial)])
    assert out.exit_code == 0, out.output
    assert (trial / "loss.png").exists() and "validation" in out.output


def test_tune_lr_picks_each_variant_rate_by_validation_and_reruns_it(tmp_path):
    path = write_config(tmp_path)
    result = run_compare(plan_for(path, ["sgd", "adam"], tune="lr", grid="1e-3:1e-1:3"), tmp_path / "runs",
                         StudySession.local(1, trial_reports=False))   # the choice of rates, not eight trial pages
    manifest = json.loads((result.path / "compare.json").read_text())
    rows = {r["variant"]: r for r in csv.DictReader((result.path / "results.csv").open())}
    for entry in manifest["variants"]:
        assert [t["lr"] for t in entry["tune_trials"]] == pytest.approx([1e-3, 1e-2, 1e-1])   # equal budget
        scores = []
        for t in entry["tune_trials"]:
            summary = json.loads((result.path / t["dir"] / "summary.json").read_text())
            val_loss = read_metrics(result.path / t["dir"] / "metrics.csv")["val_loss"][-1]
            assert summary["steps"] == 24
            scores.append((summary["accuracy"]["val"]["final"], -val_loss, -t["lr"]))
        chosen = entry["tune_trials"][scores.index(max(scores))]["lr"]
        assert entry["lr"] == chosen and float(rows[entry["label"]]["lr"]) == chosen
        final = load_config(result.path / entry["trials"][0] / "config.yaml")
        assert final.optimizer.lr == chosen and final.seed == 4
    md = (result.path / "results.md").read_text()
    assert "| variant | lr (tuned) |" in md and "## Learning-rate search" in md


def test_vary_loss_on_a_single_neuron(tmp_path):
    """Nielsen's learning slowdown setting: the same neuron, quadratic vs cross-entropy cost."""
    path = write_config(tmp_path, """\
name: neuron
data: {name: single, x: 1.0, y: 0}
model: {name: neuron, w: 2.0, b: 2.0}
loss: quadratic
optimizer: {name: sgd, lr: 0.15}
train: {batch_size: 1, iterations: 60}
""")
    out = RUNNER.invoke(app, ["compare", "--vary", "loss=quadratic,binary_cross_entropy", "--config", str(path),
                                   "--workers", "1", "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert out.exit_code == 0, out.output
    [compare_dir] = (tmp_path / "runs").iterdir()
    manifest = json.loads((compare_dir / "compare.json").read_text())
    assert manifest["varied"] == "loss" and [v["label"] for v in manifest["variants"]] == ["quadratic", "binary_cross_entropy"]
    assert load_config(compare_dir / "trials/binary_cross_entropy-s0/config.yaml").loss.name == "binary_cross_entropy"
    assert "Compared: `loss`" in (compare_dir / "results.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["sgdd", "adam"], "unknown optimizer 'sgdd'; did you mean 'sgd'?"),
    (["--vary", "model.inti=he,xavier"], "unknown key 'inti'; did you mean 'init'?"),
    (["--vary", "model.init="], "empty value in the list"),
    (["sgd", "--target", "97"], "as a fraction"),
    (["sgd", "--tune", "momentum"], "--tune  can search: lr"),
    (["sgd", "optimizer.lrr=1"], "unknown key 'lrr'"),
])
def test_bad_input_exits_2_with_a_message(tmp_path, args, message):
    path = write_config(tmp_path)
    out = RUNNER.invoke(app, ["compare", *args, "--config", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert out.exit_code == 2, out.output
    assert message in out.output and "Traceback" not in out.output
    assert not (tmp_path / "runs").exists()


def test_an_unknown_config_names_the_closest_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # no configs/ here: the default and the names are recipes (#15)
    out = RUNNER.invoke(app, ["compare", "sgd", "adam", "--config", "mnist_mpl"])
    assert out.exit_code == 2
    assert "mnist_mpl  no such file or recipe; did you mean 'mnist_mlp'?" in out.output, out.output
    assert "Traceback" not in out.output


def test_report_refuses_what_is_not_a_run(tmp_path):
    out = RUNNER.invoke(app, ["report", str(tmp_path), str(tmp_path / "nope")])
    assert out.exit_code == 2
    assert "not a run directory" in out.output and "no such directory" in out.output


def test_a_diverged_variant_exits_1_is_reported_and_never_best(tmp_path, monkeypatch):
    """Also: a study names its config ``recipe:NAME`` (or a path relative to where it ran), so its
    question is read once, into compare.json, and report.html states it when redrawn from elsewhere."""
    from optlab.config.recipes import find
    from optlab.record.compare_report import render_compare

    monkeypatch.chdir(tmp_path)
    out = RUNNER.invoke(app, ["compare", "sgd:lr=0.1", "adam", "--config", "rosenbrock", "train.iterations=20",
                              "--workers", "1", "--runs-dir", "runs", "-q"])
    assert out.exit_code == 1, out.output
    assert "diverged trials/sgd_lr_0.1-s0" in out.output and "Traceback" not in out.output
    [compare_dir] = (tmp_path / "runs").iterdir()
    md = (compare_dir / "results.md").read_text()
    assert "| sgd:lr=0.1 | 0.1 | — |" in md and "diverged 1/1 |" in md and "| adam ★ |" in md
    manifest = json.loads((compare_dir / "compare.json").read_text())
    question = find("rosenbrock").question
    assert manifest["config"] == "recipe:rosenbrock" and manifest["question"].startswith("Question: " + question[:30])
    monkeypatch.chdir(tmp_path.parent)
    render_compare(compare_dir, files=False)                       # the study's page alone
    assert html.escape(question[:30]) in (compare_dir / "report.html").read_text()

