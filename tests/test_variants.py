"""Turning `optlab compare`'s words into validated variants and a plan; no training here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from optlab.config.loading import ConfigError, load_config
from optlab.studies.compare import choose_rate, make_plan, parse_grid, slug, tune_score, unique_slugs
from optlab.studies.variants import build_variants, is_override, split_values

CONFIG = """\
name: tiny
data: {name: blobs, classes: 3, size: 120, val_size: 30, test_size: 60}
model: {name: mlp, hidden: [8]}
loss: cross_entropy
optimizer: {name: adam, lr: 0.05}
compare:
  optimizers:
    - {name: momentum, lr: 0.2, momentum: 0.5}
train: {batch_size: 15, epochs: 2}
"""


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


def problems(exc_info) -> list[str]:
    return [str(p) for p in exc_info.value.problems]


def test_words_are_optimizers_or_overrides():
    assert [is_override(w) for w in ("sgd", "adam:lr=0.003", "train.iterations=5", "name=a:b")] == [
        False, False, True, True]


def test_split_values_keeps_lists_whole():
    assert split_values("he, xavier") == ["he", "xavier"]
    assert split_values("[50],[100, 100],{a: 1, b: 2}") == ["[50]", "[100, 100]", "{a: 1, b: 2}"]


def test_each_optimizer_takes_its_settings_from_the_config_then_the_defaults(config):
    base, varied, variants = build_variants(config, ["sgd", "momentum", "adam", "nesterov:lr=0.3,momentum=0.8"])
    assert varied == "optimizer" and base.optimizer.name == "adam"
    got = {v.label: v.config.optimizer.model_dump(exclude={"weight_decay", "clip_norm", "schedule"})
           for v in variants}
    assert got["sgd"] == {"name": "sgd", "lr": 0.01}                                  # optlab's default (DLFS)
    assert got["momentum"] == {"name": "momentum", "lr": 0.2, "momentum": 0.5}        # compare.optimizers
    assert got["adam"]["lr"] == 0.05                                                  # the config's optimizer
    assert got["nesterov:lr=0.3,momentum=0.8"] == {"name": "nesterov", "lr": 0.3, "momentum": 0.8}


def test_the_config_s_training_techniques_apply_to_every_optimizer_compared(tmp_path):
    """A schedule, weight decay and clipping are the set-up, not the rule: sgd gets the config's
    (adam's) unless its compare.optimizers entry sets its own."""
    path = tmp_path / "techniques.yaml"
    path.write_text(CONFIG.replace("optimizer: {name: adam, lr: 0.05}",
                                   "optimizer: {name: adam, lr: 0.05, weight_decay: 0.01, clip_norm: 5, "
                                   "schedule: {name: step, every: 3}}")
                    .replace("{name: momentum, lr: 0.2, momentum: 0.5}",
                             "{name: momentum, lr: 0.2, momentum: 0.5, clip_norm: 1}"))
    _, _, variants = build_variants(path, ["sgd", "momentum"])
    sgd, momentum = (v.config.optimizer for v in variants)
    assert (sgd.lr, sgd.weight_decay, sgd.clip_norm, sgd.schedule.name, sgd.schedule.every) == (0.01, 0.01, 5, "step", 3)
    assert (momentum.weight_decay, momentum.clip_norm, momentum.schedule.name) == (0.01, 1, "step")


def test_overrides_apply_to_all_and_the_variant_wins(config):
    _, _, variants = build_variants(config, ["sgd", "adam:lr=0.003", "optimizer.lr=0.1", "train.iterations=7"])
    assert [v.config.optimizer.lr for v in variants] == [0.1, 0.003]
    # train.iterations replaces the file's train.epochs (config.ALTERNATIVES)
    assert all(v.config.train.iterations == 7 and v.config.train.epochs is None for v in variants)
    assert all(v.config.model == variants[0].config.model for v in variants)


def test_config_lists_the_optimizers_when_none_is_named(config):
    _, _, variants = build_variants(config, [])
    assert [v.label for v in variants] == ["momentum"]


def test_vary_any_key_and_the_optimizer_form_is_the_same_thing(config):
    _, varied, variants = build_variants(config, [], "model.init=normal,xavier,he")
    assert varied == "model.init" and [v.config.model.init.name for v in variants] == ["normal", "xavier", "he"]
    _, varied, by_vary = build_variants(config, [], "optimizer=sgd,momentum")
    _, _, by_name = build_variants(config, ["sgd", "momentum"])
    assert varied == "optimizer" and [v.config for v in by_vary] == [v.config for v in by_name]
    _, _, hidden = build_variants(config, [], "model.hidden=[4],[4, 4]")
    assert [v.config.model.hidden for v in hidden] == [[4], [4, 4]]


@pytest.mark.parametrize("words, vary, expected", [
    (["sgdd", "adam"], None, "variant 'sgdd'  unknown optimizer 'sgdd'; did you mean 'sgd'?"),
    (["sgd:momentum=0.9"], None, "variant 'sgd:momentum=0.9'  optimizer.momentum  unknown key 'momentum'"),
    (["adam:lr=-1"], None, "variant 'adam:lr=-1'  optimizer.lr  must be greater than 0"),
    (["adam:lr"], None, "expected adam:KEY=VALUE"),
    (["sgd", "sgd"], None, "given more than once: sgd"),
    ([], "model.inti=he,xavier", "--vary  model.inti  unknown key 'inti'; did you mean 'init'?"),
    ([], "model.init=", "--vary  model.init  empty value in the list"),
    ([], "model.init=he,,xavier", "empty value in the list"),
    ([], "model.init", "expected --vary KEY=V1,V2,..."),
    ([], "model.init=he,zeroes", "--vary  model.init.name  must be 'zeros', 'normal', 'xavier' or 'he'"),
    (["sgd"], "model.init=he", "compare optimizers (sgd) or --vary, not both"),
    (["sgd", "adam", "optimizer=sgd"], None, "override 'optimizer=sgd'  optimizer  conflicts with what is compared"),
    (["model.init=he"], "model.init=he,xavier", "conflicts with what is compared (model.init)"),
])
def test_bad_variants_are_reported_with_where_they_came_from(config, words, vary, expected):
    with pytest.raises(ConfigError) as info:
        build_variants(config, words, vary)
    assert any(expected in p for p in problems(info)), problems(info)


def test_every_bad_variant_is_reported_at_once(config):
    with pytest.raises(ConfigError) as info:
        build_variants(config, ["sgdd", "adam:lr=-1", "momentum"])
    assert len(info.value.problems) == 2


def test_nothing_to_compare(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.split("compare:")[0] + "train: {iterations: 3}\n")
    with pytest.raises(ConfigError, match="nothing to compare"):
        build_variants(path, [])


def test_plan_seeds_target_and_grid(config):
    base, varied, variants = build_variants(config, ["sgd", "adam"])
    plan = make_plan(variants, base, varied, seeds=3, target=0.9, tune="lr", grid="1e-3:1e-1:3")
    assert plan.seeds == [0, 1, 2] and plan.target == 0.9
    assert plan.grid == pytest.approx([1e-3, 1e-2, 1e-1])
    assert parse_grid("1e-4:1:9")[1] == pytest.approx(10 ** -3.5)


@pytest.mark.parametrize("options, expected", [
    ({"target": 97.0}, "--target  a validation accuracy as a fraction"),
    ({"seeds": 0}, "--seeds  needs at least one seed"),
    ({"tune": "momentum"}, "--tune  can search: lr"),
    ({"tune": "lr", "grid": "1:0.1:3"}, "--lr-grid  expected LOW:HIGH:N"),
    ({"tune": "lr", "grid": "1e-3:1"}, "--lr-grid  expected LOW:HIGH:N"),
    ({"tune": "lr", "grid": "1e-3:1.001e-3:5"}, "cannot be told apart at 3 significant digits"),
])
def test_bad_plan_options(config, options, expected):
    base, varied, variants = build_variants(config, ["sgd"])
    with pytest.raises(ConfigError) as info:
        make_plan(variants, base, varied, **options)
    assert any(expected in p for p in problems(info)), problems(info)


def test_tuning_refuses_a_rate_set_by_hand(config):
    base, varied, variants = build_variants(config, ["sgd", "adam:lr=0.003"])
    with pytest.raises(ConfigError, match="sets the rate that --tune lr searches"):
        make_plan(variants, base, varied, tune="lr")
    base, varied, variants = build_variants(config, ["sgd", "adam", "optimizer.lr=0.1"])
    with pytest.raises(ConfigError) as info:
        make_plan(variants, base, varied, tune="lr")
    assert problems(info) == ["override 'optimizer.lr=0.1'  optimizer.lr  sets the rate that --tune lr searches; drop one"]


def _fake_run(path: Path, status: str, val: float | None, val_loss: float = 0.5, train_loss: float = 1.0) -> Path:
    path.mkdir(parents=True)
    accuracy = {"val": {"final": val, "peak": val, "peak_step": 3}} if val is not None else {}
    summary = {"status": status, "final_train_loss": train_loss, "accuracy": accuracy}
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "metrics.csv").write_text(f"step,val_loss\n0,9.0\n3,{val_loss}\n")
    return path


def test_tuning_picks_by_final_validation_accuracy_then_loss_then_the_smaller_rate(tmp_path):
    rates = [0.001, 0.01, 0.1, 1.0]
    dirs = [_fake_run(tmp_path / "a", "completed", 0.80), _fake_run(tmp_path / "b", "completed", 0.90, 0.4),
            _fake_run(tmp_path / "c", "completed", 0.90, 0.3), _fake_run(tmp_path / "d", "diverged", 0.95)]
    assert choose_rate(rates, dirs) == 0.1          # diverged never wins; tie on accuracy -> lower loss
    same = [_fake_run(tmp_path / "e", "completed", 0.9), _fake_run(tmp_path / "f", "completed", 0.9)]
    assert choose_rate([0.3, 0.03], same) == 0.03   # a full tie -> the smaller rate
    no_val = [_fake_run(tmp_path / "g", "completed", None, train_loss=0.2),
              _fake_run(tmp_path / "h", "completed", None, train_loss=0.1)]
    assert choose_rate([0.1, 1.0], no_val) == 1.0   # no validation data: the lower training loss
    assert tune_score(tmp_path / "missing") == (0,)


def test_slug():
    assert slug("adam:lr=0.003") == "adam_lr_0.003"
    assert slug("[100, 100]") == "100_100"
    assert unique_slugs(["a b", "a_b", "c"]) == ["a_b-1", "a_b-2", "c"]


def test_override_of_epochs_replaces_iterations(config):
    assert load_config(config, ["train.iterations=5", "train.epochs=3"]).train.iterations is None
