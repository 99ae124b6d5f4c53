"""The techniques inside whole runs: early stopping restores the best weights, the schedule's
rate is logged per step, the diagnostics' files and figures, the initial-loss check, and the
configs that cannot work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG

from optlab.config.loading import ConfigError, load_config
from optlab.record.rundir import read_metrics
from optlab.training import checkpoint
from optlab.training.run import SetupError, run


@pytest.fixture
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


def config(tmp_path: Path, *overrides: str, text: str = TINY_CONFIG):
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    return load_config(path, overrides)


def metrics(result) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in read_metrics(result.run_dir / "metrics.csv").items()}


# ------------------------------------------------------------------------------------------------
# early stopping
# ------------------------------------------------------------------------------------------------
def test_early_stopping_restores_the_best_weights_and_records_their_step(tmp_path, no_plots):
    cfg = config(tmp_path, "train.epochs=30", "train.eval_every=1", "optimizer.lr=0.05",
                 "train.early_stopping={metric: val_loss, patience: 3}")
    result = run(cfg, tmp_path / "runs")
    early = result.summary["early_stopping"]
    m = metrics(result)
    best = int(np.argmin(m["val_loss"]))                     # evaluated every step: row = step
    assert early["best_step"] == best > 0 and early["best_value"] == m["val_loss"][best]
    assert early["stopped_at"] == best + 3 == result.summary["steps"] < 90, "stopped early"

    # the test set saw the weights of the best step: a run that ends there has the same test numbers
    plain = run(config(tmp_path, "train.epochs=null", f"train.iterations={best}", "train.eval_every=1",
                       "optimizer.lr=0.05"), tmp_path / "runs")
    assert result.summary["test_loss"] == plain.summary["test_loss"]
    assert result.summary["accuracy"]["test"] == plain.summary["accuracy"]["test"]
    # while the checkpoint keeps the training state at the stop, which is what --resume needs
    ckpt = checkpoint.load(result.run_dir / "checkpoint.npz")
    assert ckpt.step == early["stopped_at"] and ckpt.extra["early_stopping"]["best_step"] == best
    assert np.array_equal(ckpt.extra["early_stopping"]["best_params"],
                          checkpoint.load(plain.run_dir / "checkpoint.npz").params)


def test_early_stopping_that_never_fires_still_ends_with_the_best_weights(tmp_path, no_plots):
    result = run(config(tmp_path, "train.early_stopping={metric: val_loss, patience: 100}", "train.eval_every=1"),
                 tmp_path / "runs")
    early = result.summary["early_stopping"]
    assert early["stopped_at"] is None and result.summary["steps"] == 12 and 0 < early["best_step"]
    plain = run(config(tmp_path, "train.epochs=null", f"train.iterations={early['best_step']}", "train.eval_every=1"),
                tmp_path / "runs")
    assert result.summary["test_loss"] == plain.summary["test_loss"]


# ------------------------------------------------------------------------------------------------
# schedules, clipping and weight decay in a run
# ------------------------------------------------------------------------------------------------
def test_the_rate_of_every_step_is_logged(tmp_path, no_plots):
    result = run(config(tmp_path, "optimizer.schedule={name: step, every: 4, factor: 0.5, warmup: 2}"),
                 tmp_path / "runs")
    lr = metrics(result)["lr"]
    # step 0 shows the first step's rate; warmup 0.005, 0.01; then 0.01 for 4 steps, halved every 4
    assert lr.tolist() == pytest.approx([0.005, 0.005, 0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005,
                                         0.0025, 0.0025])


def test_plateau_reductions_are_in_the_summary_and_the_log(tmp_path, no_plots):
    result = run(config(tmp_path, "train.epochs=20", "train.eval_every=1", "optimizer.lr=0.05",
                        "optimizer.schedule={name: plateau, patience: 2}"), tmp_path / "runs")
    reductions = result.summary["lr_reductions"]
    lr = metrics(result)["lr"]
    assert reductions, "the tiny spiral stalls within 60 steps at this rate"
    for k, step in enumerate(reductions):   # the rate after each reduction is halved, once
        assert lr[step + 1] == pytest.approx(0.05 * 0.5 ** (k + 1))


def test_clipping_and_weight_decay_in_a_run(tmp_path, no_plots):
    clipped = run(config(tmp_path, "optimizer.clip_norm=0.01"), tmp_path / "runs")
    assert clipped.summary["clipped_steps"] == 12          # a norm of 0.01 clips every step
    plain = run(config(tmp_path), tmp_path / "runs")
    decayed = run(config(tmp_path, "optimizer.weight_decay=0.5"), tmp_path / "runs")
    assert "clipped_steps" not in plain.summary
    norms = [np.linalg.norm(checkpoint.load(r.run_dir / "checkpoint.npz").params) for r in (plain, decayed)]
    assert norms[1] < norms[0]


# ------------------------------------------------------------------------------------------------
# diagnostics
# ------------------------------------------------------------------------------------------------
def test_diagnostics_files_and_figures(tmp_path):
    result = run(config(tmp_path, "model.hidden=[8,8]", "diagnostics.histograms=[0,6]",
                        "optimizer.schedule=cosine", "train.early_stopping=true"), tmp_path / "runs")
    d = result.run_dir
    table = read_metrics(d / "diagnostics.csv")
    assert list(table) == ["step", "fc1.W", "fc2.W", "fc3.W"] and table["step"] == [3, 6, 9, 12]
    assert all(0 < v < 1 for name in ("fc1.W", "fc2.W", "fc3.W") for v in table[name])
    records = json.loads((d / "activations.json").read_text())["records"]
    assert [r["step"] for r in records] == [0, 6] and list(records[0]["layers"]) == ["act1", "act2"]
    h = records[0]["layers"]["act1"]
    assert h["kind"] == "ReLU" and len(h["counts"]) == 30 and len(h["edges"]) == 31
    assert sum(h["counts"]) == round(90 * 8 * (1 - h["zero_fraction"]))   # the nonzero activations
    assert {"lr.png", "update_ratios.png", "activations.png"} <= {p.name for p in d.iterdir()}
    results = (d / "results.md").read_text()
    assert "- initial loss: " in results and "(at chance: ln C = ln 3 = 1.099)" in results
    assert "- early stopping: ran to the end; weights restored from step" in results


def test_update_ratio_is_the_norm_of_one_update_over_the_weights(tmp_path, no_plots):
    before = run(config(tmp_path, "train.epochs=null", "train.iterations=2"), tmp_path / "runs")
    after = run(config(tmp_path, "train.epochs=null", "train.iterations=3"), tmp_path / "runs")
    W2 = checkpoint.load(before.run_dir / "checkpoint.npz").params[: 2 * 16].reshape(2, 16)   # fc1.W comes first
    W3 = checkpoint.load(after.run_dir / "checkpoint.npz").params[: 2 * 16].reshape(2, 16)
    row = read_metrics(after.run_dir / "diagnostics.csv")
    assert row["step"] == [3]
    assert row["fc1.W"][0] == pytest.approx(np.linalg.norm(W3 - W2) / np.linalg.norm(W2), rel=1e-12)


def test_recording_changes_nothing_in_training_even_with_batch_norm_and_dropout(tmp_path, no_plots):
    techniques = ("model.batch_norm=true", "model.drop_prob=0.3", "diagnostics.every=1")
    quiet = run(config(tmp_path, *techniques, "diagnostics.update_ratios=false", "diagnostics.histograms=[]"),
                tmp_path / "runs")
    busy = run(config(tmp_path, *techniques, "diagnostics.histograms=[0,1,2,3,4,5,6,7,8,9,10,11,12]"),
               tmp_path / "runs")
    for k in ["step", "loss", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]:
        assert np.array_equal(metrics(busy)[k], metrics(quiet)[k], equal_nan=True), k
    assert not (quiet.run_dir / "diagnostics.csv").exists() and not (quiet.run_dir / "activations.json").exists()
    assert len(json.loads((busy.run_dir / "activations.json").read_text())["records"]) == 13


@pytest.mark.parametrize("loss,init,expected,warns", [
    ("cross_entropy", "{name: normal, std: 0.001}", math.log(3), False),
    ("hinge", "{name: normal, std: 0.001}", 2.0, False),              # (C - 1) * margin
    ("cross_entropy", "{name: normal, std: 3.0}", math.log(3), True),  # large weights: far off chance
])
def test_initial_loss_is_checked_against_chance(tmp_path, no_plots, loss, init, expected, warns):
    result = run(config(tmp_path, f"loss={loss}", f"model.init={init}", "regularization.l2=0.5"), tmp_path / "runs")
    check = result.summary["initial_loss_check"]
    assert check["expected"] == pytest.approx(expected)
    if warns:
        assert check["warning"] and "x its value at chance" in check["warning"]
    else:   # small weights: every class gets about the same score; the penalty is left out
        assert check["warning"] is None and check["observed"] == pytest.approx(expected, rel=1e-3)


# ------------------------------------------------------------------------------------------------
# what cannot work is refused before a run directory exists
# ------------------------------------------------------------------------------------------------
def test_watching_validation_without_a_validation_set_is_refused(tmp_path):
    for extra in ("train.early_stopping=true", "optimizer.schedule=plateau"):
        cfg = config(tmp_path, "data.val_size=0", extra)
        with pytest.raises(SetupError, match="watch the validation set, and this data has none"):
            run(cfg, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_config_errors_in_the_new_sections_are_located(tmp_path):
    with pytest.raises(ConfigError) as info:
        config(tmp_path, "optimizer.schedule={name: cosin}", "model.drop_prob=1", "train.early_stopping.patiance=3")
    text = str(info.value)
    assert "optimizer.schedule.name  unknown schedule 'cosin'; did you mean 'cosine'?" in text   # the misspelt name's own key
    assert "model.drop_prob  must be less than 1" in text
    assert "train.early_stopping.patiance  unknown key 'patiance'; did you mean 'patience'?" in text
    cfg = config(tmp_path, "model.batch_norm=true", "optimizer.schedule=cosine")
    assert cfg.model.batch_norm.momentum == 0.9 and cfg.optimizer.schedule.name == "cosine"
    cfg = config(tmp_path, "model.batch_norm=true", "model.batch_norm.eps=1e-8", "optimizer.schedule=cosine",
                 "optimizer.schedule.warmup=5")
    assert (cfg.model.batch_norm.eps, cfg.model.batch_norm.momentum, cfg.optimizer.schedule.warmup) == (1e-8, 0.9, 5)


def test_dropout_and_batch_norm_need_backpropagation(tmp_path):
    for search in ("search.strategy=random", "search.gradient=numerical"):
        with pytest.raises(ConfigError, match="model.drop_prob and model.batch_norm act at every forward pass"):
            config(tmp_path, "model.drop_prob=0.5", "model.batch_norm=true", search, "train.dtype=float64")


def test_union_tags_are_found_at_any_depth(tmp_path):
    """A schedule inside an optimizer inside compare's list: the key path a user writes, the line."""
    text = TINY_CONFIG + "compare:\n  optimizers:\n    - {name: adamm}\n    - {name: sgd, schedule: {name: step, evry: 3}}\n"
    with pytest.raises(ConfigError) as info:
        config(tmp_path, text=text)
    out = [str(p) for p in info.value.problems]
    path = tmp_path / "tiny.yaml"
    assert f"{path}:11  compare.optimizers.0.name  unknown optimizer 'adamm'; did you mean 'adam'?" in out[0]
    assert any(p.startswith(f"{path}:12  compare.optimizers.1.schedule.evry  unknown key 'evry'; did you mean 'every'?")
               for p in out), out
