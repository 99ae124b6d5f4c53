"""compare's --target (median time to target with bootstrap intervals, censored seeds) and the
tuning-budget section (compare --tune, sweeps over optimizer.name), from hand-made trial files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from optlab.record import budget_report
from optlab.record.compare_report import results_csv, results_markdown
from optlab.record.compare_stats import TrialData, variant_stats
from optlab.record.rundir import RunDir
from optlab.record.tuning_stats import expected_max


def trial(path: Path, acc: list[float], batch: int = 10) -> TrialData:
    steps = np.arange(0, 10 * len(acc), 10)
    metrics = {"step": steps, "val_acc": np.array(acc), "time": steps / 100.0}
    summary = {"status": "completed", "accuracy": {"val": {"final": acc[-1], "peak": max(acc), "peak_step": 0}},
               "final_train_loss": 0.5, "wall_time_s": 1.0}
    return TrialData(path, "completed", summary, metrics, {"train": {"batch_size": batch}, "optimizer": {"lr": 0.1}})


def test_time_to_target_reports_median_interval_and_missed_seeds(tmp_path):
    seeds = [trial(tmp_path, [0.1, 0.5, 0.9]), trial(tmp_path, [0.1, 0.95, 0.97]), trial(tmp_path, [0.1, 0.2, 0.3]),
             trial(tmp_path, [0.9, 0.9, 0.9])]
    v = variant_stats("sgd", seeds, 0.8)
    assert v.reached == [20, 10, None, 0]
    assert v.ttt.missed == 1 and v.ttt.steps[0] == 10 and v.ttt.examples[0] == 100 and v.ttt.seconds[0] == 0.1
    assert v.ttt.steps[1] == 0 and math.isinf(v.ttt.steps[2])          # resamples with 2+ misses: never
    never = variant_stats("adam", [trial(tmp_path, [0.1, 0.2])] * 2, 0.8)
    manifest = {"seeds": [0, 1, 2, 3], "varied": "optimizer", "target": 0.8, "variants": [
        {"label": "sgd", "trials": []}, {"label": "adam", "trials": []}]}
    md = results_markdown(tmp_path, manifest, [v, never])
    assert "| 10 [0, never]; never by 1 of 4 seeds |" in md and "| not reached |" in md
    assert "## Time to 80.0 % validation accuracy" in md
    assert "| sgd | 10 [0, never] | 100 [0, never] | 0.10 [0.00, never] | 1 of 4 |" in md
    rows = list(csv.DictReader(results_csv(manifest, [v, never]).splitlines()))
    assert rows[0]["steps_to_target_median"] == "10" and rows[0]["target_missed_fraction"] == "0.25"
    assert rows[1]["target_missed_fraction"] == "1.0" and rows[0]["steps_to_target_high"] == "inf"


def write_trial(path: Path, status: str, acc: float | None) -> Path:
    path.mkdir(parents=True)
    RunDir(path).write_json("summary.json", {"status": status, "accuracy": {"val": {"final": acc}}})
    return path


def test_budget_section_counts_failures_as_zero_and_matches_the_estimator(tmp_path):
    rd = RunDir(tmp_path)
    rd.write_text("results.md", "# x\n")
    manifest = {"name": "x", "tune": {"grid": [0.01, 0.1, 1]}, "variants": [
        {"label": "sgd", "tune_trials": [{"dir": "tune/a"}, {"dir": "tune/b"}, {"dir": "tune/c"}]},
        {"label": "adam", "tune_trials": [{"dir": "tune/d"}, {"dir": "tune/e"}]}]}
    write_trial(tmp_path / "tune/a", "completed", 0.6)
    write_trial(tmp_path / "tune/b", "diverged", None)
    write_trial(tmp_path / "tune/c", "pruned", 0.3)
    write_trial(tmp_path / "tune/d", "completed", 0.8)
    write_trial(tmp_path / "tune/e", "completed", 0.7)
    budget_report.render_compare_budget(rd, manifest)
    rows = list(csv.DictReader((tmp_path / "budget.csv").open()))
    sgd = [float(r["expected_best_val_acc"]) for r in rows if r["label"] == "sgd"]
    assert sgd == pytest.approx(expected_max([0.6, 0.0, 0.3]))
    assert all(float(r["band_low"]) <= float(r["expected_best_val_acc"]) <= float(r["band_high"]) for r in rows)
    md = (tmp_path / "results.md").read_text()
    assert "## Tuning budget" in md and "| adam | 2 | 75.0 % [70.0, 80.0] | — | 77.5 % [70.0, 80.0] |" in md
    assert (tmp_path / "budget.png").stat().st_size > 0
    before = (tmp_path / "budget.csv").read_text()
    budget_report.render_compare_budget(rd, manifest)                     # seeded: the same files
    assert (tmp_path / "budget.csv").read_text() == before
    json.loads(json.dumps(manifest))
