"""A key given on the command line of a study reaches every trial: over a config's
``compare.variants``, with ``--vary``, next to ``name:key=value``, and in sweeps; where it cannot,
the study is refused naming both. What a trial's config.yaml and the study's results say is what ran."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config
from optlab.studies.sweep import make_plan
from optlab.studies.variants import build_variants

# A surface: each trial takes milliseconds. Two named variants, each with its own settings.
SURFACE = """\
name: bowl2
model: {name: surface, function: bowl, start: [-7.0, 2.0]}
optimizer: {name: momentum, lr: 0.05}
train: {iterations: 40, dtype: float64}
compare:
  variants:
    plain: {optimizer: {name: sgd, lr: 0.1}, train.iterations: 30}
    heavy: {optimizer: {name: momentum, lr: 0.01, momentum: 0.9}, train.epochs: 2}
"""

TINY = """\
name: tiny
seed: 1
data: {name: spiral, classes: 3, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [8]}
loss: cross_entropy
optimizer: {name: adam, lr: 0.01}
train: {batch_size: 30, iterations: 6, dtype: float64}
"""


@pytest.fixture
def surface(tmp_path) -> Path:
    path = tmp_path / "bowl2.yaml"
    path.write_text(SURFACE)
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def problems(info) -> str:
    return "\n".join(str(p) for p in info.value.problems)


def test_an_override_wins_over_the_config_s_named_variants(surface):
    _, varied, variants = build_variants(surface, ["train.iterations=12", "optimizer.lr=0.02"])
    assert varied == "variant" and [v.label for v in variants] == ["plain", "heavy"]
    # the variant's own iterations (30) and epochs (2, the alternative key) give way to the command line
    assert [(v.config.train.iterations, v.config.train.epochs) for v in variants] == [(12, None), (12, None)]
    assert [v.config.optimizer.lr for v in variants] == [0.02, 0.02]
    assert [v.config.optimizer.name for v in variants] == ["sgd", "momentum"]   # what the override does not touch stays
    assert variants[1].config.optimizer.momentum == 0.9


def test_an_override_a_named_variant_cannot_take_is_refused_naming_both(surface):
    with pytest.raises(ConfigError) as info:
        build_variants(surface, ["optimizer.momentum=0.5"])   # plain is SGD: no momentum
    text = problems(info)
    assert "override 'optimizer.momentum=0.5' with compare.variants.plain" in text and "momentum" in text
    assert "heavy" not in text


def test_an_override_reaches_every_variant_of_vary_and_of_the_optimizer_form(tiny):
    _, _, varied = build_variants(tiny, ["train.iterations=3"], vary="model.init=he,xavier")
    assert [v.config.train.iterations for v in varied] == [3, 3]
    _, _, named = build_variants(tiny, ["sgd", "adam:lr=0.003", "train.iterations=3", "regularization.l2=0.01"])
    assert [(v.config.train.iterations, v.config.regularization.l2) for v in named] == [(3, 0.01), (3, 0.01)]
    assert [v.config.optimizer.lr for v in named] == [0.01, 0.003]   # name:key=value: that variant's own


def test_a_swept_key_that_would_undo_a_fixed_override_is_refused_naming_both(tiny):
    with pytest.raises(ConfigError) as info:
        make_plan(tiny, ["optimizer.lr=0.1", "optimizer.lr=0.01,0.02"], grid=True)
    assert "sweep 'optimizer.lr=0.01,0.02'" in problems(info) and "override 'optimizer.lr=0.1'" in problems(info)
    with pytest.raises(ConfigError) as info:      # train.epochs replaces train.iterations
        make_plan(tiny, ["train.iterations=5", "train.epochs=1,2"], grid=True)
    assert "override 'train.iterations=5'" in problems(info)
    plan = make_plan(tiny, ["optimizer={name: sgd}", "optimizer.lr=0.01,0.02", "train.iterations=2"], grid=True)
    assert [(c.optimizer.name, c.optimizer.lr, c.train.iterations) for c in plan.configs] == [
        ("sgd", 0.01, 2), ("sgd", 0.02, 2)]


def test_an_override_on_named_variants_is_what_every_trial_ran_and_records(surface, tmp_path):
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["compare", "--config", str(surface), "train.iterations=7",
                                      "--runs-dir", str(runs), "-q"])
    assert result.exit_code == 0, result.output
    study = next(runs.glob("*-compare"))
    for trial in ("plain-s0", "heavy-s0"):
        path = study / "trials" / trial
        ran = load_config(path / "config.yaml")
        assert ran.train.iterations == 7 and ran.train.epochs is None
        assert ran.compare.variants == {}        # a trial's config states its own run, not the other variants
        assert (path / "metrics.csv").read_text().strip().splitlines()[-1].split(",")[0] == "7"
        assert "iterations: 7" in (path / "report.html").read_text()
    assert "`train.iterations=7`" in (study / "results.md").read_text()
