"""Config loading: shipped configs validate; broken ones give every problem at once with
file:line, key path and what was expected; overrides; YAML 1.2 floats; dump/load round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO, TINY_CONFIG

from optlab.config.loading import ConfigError, dump_config, load_config, loads_config, parse_override
from optlab.config.schema import Config

SHIPPED = sorted((REPO / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_load_and_open_with_question_source_command(path: Path):
    load_config(path)
    head = path.read_text().split("\n\n")[0].lower()
    assert head.startswith("# question:"), "a shipped config opens with the question it asks"
    assert "# source:" in head and "# command: optlab " in head
    assert f"optlab train {path.stem}" in head, "every recipe says how to run it alone, by name"


def problems(tmp_path: Path, text: str, overrides=()) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return [str(p) for p in info.value.problems]


def test_every_problem_at_once_with_line_and_key(tmp_path):
    text = TINY_CONFIG.replace("name: adam, lr: 0.01", "name: adam, lr: -0.01").replace(
        "hidden: [16]", "hiden: [16]").replace("batch_size: 30", "batch_size: 0")
    out = problems(tmp_path, text)
    path = tmp_path / "c.yaml"
    assert f"{path}:4  model.hiden  unknown key 'hiden'; did you mean 'hidden'?" in out[0]
    assert f"{path}:7  optimizer.lr  must be greater than 0 (got -0.01)" == out[1]
    assert f"{path}:8  train.batch_size" in out[2]
    assert len(out) == 3


@pytest.mark.parametrize("bad,line,key,words", [
    ("optimizer: {name: adamm}", 7, "optimizer", ["unknown optimizer 'adamm'", "did you mean 'adam'", "sgd, momentum"]),
    ("optimizer: {name: sgd, lr: fast}", 7, "optimizer.lr", ["must be a number, not a string", "'fast'"]),
    ("optimizer: {name: sgd, momentum: 0.9}", 7, "optimizer.momentum", ["unknown key 'momentum'", "valid keys: lr"]),
    ("optimizer: {name: momentum, momentum: 1.0}", 7, "optimizer.momentum", ["less than 1"]),
    ("optimizer: {lr: 0.1}", 7, "optimizer", ["needs a name"]),
])
def test_bad_optimizer_section(tmp_path, bad, line, key, words):
    text = TINY_CONFIG.replace("optimizer: {name: adam, lr: 0.01}", bad)
    (out,) = problems(tmp_path, text)
    assert out.startswith(f"{tmp_path / 'c.yaml'}:{line}  {key}  ")
    for w in words:
        assert w in out


def test_yaml_syntax_error_names_the_line(tmp_path):
    (out,) = problems(tmp_path, TINY_CONFIG.replace("loss: cross_entropy", "loss: [cross_entropy"))
    # the unclosed flow sequence on line 6 is reported there
    assert out.startswith(f"{tmp_path / 'c.yaml'}:6  YAML syntax error: expected ',' or ']'")


def test_tabs_duplicates_empty_and_missing(tmp_path):
    assert "tabs" in problems(tmp_path, "name: x\n\tseed: 1\n")[0]
    assert "duplicate key 'seed'" in problems(tmp_path, "seed: 1\nseed: 2\n")[0]
    assert "the file is empty" in problems(tmp_path, "")[0]
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_missing_required_sections(tmp_path):
    out = problems(tmp_path, "name: x\n")
    assert {o.split("  ")[1] for o in out} == {"data", "model", "loss", "train"}


def test_yaml_12_floats_and_shorthands():
    cfg = loads_config(TINY_CONFIG.replace("l2: 1.0e-3", "l2: 1e-3").replace("lr: 0.01", "lr: 3e-4"))
    assert cfg.regularization.l2 == 0.001 and cfg.optimizer.lr == 0.0003
    assert cfg.loss.name == "cross_entropy"
    assert cfg.optimizer.beta1 == 0.9, "defaults filled in from optlab.engine.hyper"


def test_overrides_parse_as_yaml_and_revalidate(tiny_config):
    cfg = load_config(tiny_config, ["optimizer.lr=0.5", "model.hidden=[50, 50]", "seed=3", "loss.name=hinge",
                                    "optimizer=sgd"])
    assert cfg.model.hidden == [50, 50] and cfg.seed == 3 and cfg.loss.name == "hinge"
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.lr == 0.01
    with pytest.raises(ConfigError) as info:
        load_config(tiny_config, ["optimizer.lr=-1", "lr0.1", "=1", "model.hidden=["])
    text = str(info.value)
    assert "override 'optimizer.lr=-1'  optimizer.lr  must be greater than 0" in text
    assert "override 'lr0.1'  expected KEY=VALUE" in text
    assert "override '=1'" in text and "override 'model.hidden=['" in text


def test_parse_override():
    assert parse_override("model.hidden=[64,64]") == (("model", "hidden"), [64, 64])
    assert parse_override("optimizer.lr=1e-3") == (("optimizer", "lr"), 0.001)


def test_dump_load_round_trip(tiny_config):
    cfg = load_config(tiny_config)
    again = loads_config(dump_config(cfg))
    assert again == cfg and isinstance(again, Config)


def test_incompatible_loss_and_model(tmp_path):
    text = TINY_CONFIG.replace("loss: cross_entropy", "loss: binary_cross_entropy")
    (out,) = problems(tmp_path, text)
    assert "model.output: sigmoid" in out
