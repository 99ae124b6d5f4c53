"""Recipes (#15): the shipped configs are package data, runnable by name from any directory; each
states its question, source and own command, and that command is a valid optlab command line."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
import typer.main
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config
from optlab.config.recipes import RECIPES_DIR, find, parse_header, recipes, resolve

RUNNER = CliRunner()
ALL = recipes()
FIGURE_RECIPES = {"mnist_mlp", "dlfs_weight_init", "dlfs_batch_norm", "dlfs_weight_decay", "dlfs_dropout",
                  "dlfs_hyperparameter_search", "nielsen_slowdown", "nielsen_overfit", "hiker", "bowl",
                  "rosenbrock", "saddle"}


def test_the_recipes_live_in_the_top_level_configs_folder_with_no_second_copy():
    repo = Path(__file__).resolve().parents[1]
    assert RECIPES_DIR == repo / "configs" and len(ALL) >= 20
    assert not (repo / "optlab" / "recipes").exists(), "one source of truth: configs/"


def test_a_built_wheel_carries_the_recipes_and_runs_one_by_name_from_anywhere(tmp_path: Path):
    """A plain (not editable) install: the wheel holds configs/ as optlab/recipes/, and the
    installed package finds `quickstart` from a directory that has no configs/ beside it."""
    import subprocess
    import sys
    import zipfile

    from hatchling.builders.wheel import WheelBuilder

    repo = Path(__file__).resolve().parents[1]
    wheel = Path(next(WheelBuilder(str(repo)).build(directory=str(tmp_path / "dist"), versions=["standard"])))
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        shipped = {p.name for p in (repo / "configs").glob("*.yaml")}
        assert {f"optlab/recipes/{n}" for n in shipped} <= names
        assert not any(n.startswith("configs/") for n in names)
        z.extractall(tmp_path / "site")
    probe = ("import optlab.config.recipes as r, sys; "
             "print(r.RECIPES_DIR); print(r.find('quickstart').kind); print(r.resolve('hiker').origin)")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    where, kind, origin = out.stdout.split()
    assert Path(where) == tmp_path / "site" / "optlab" / "recipes"
    assert (kind, origin) == ("run", "recipe:hiker")


@pytest.mark.parametrize("recipe", ALL, ids=lambda r: r.name)
def test_every_recipe_states_question_source_and_its_own_command_by_name(recipe):
    load_config(recipe.path)
    assert recipe.question.endswith("?") or "?" in recipe.question, "the question is a question"
    assert recipe.source and recipe.commands
    words = recipe.command.split()
    assert words[:2] in (["optlab", "train"], ["optlab", "compare"], ["optlab", "sweep"])
    names_itself = f"--config {recipe.name}" in recipe.command or words[2:3] == [recipe.name]
    assert names_itself, f"{recipe.command!r} should name the recipe {recipe.name!r}, not a path"
    assert "configs/" not in recipe.path.read_text()


def test_the_comparisons_of_the_issue_are_figure_recipes():
    kinds = {r.name: r.kind for r in ALL}
    for name in FIGURE_RECIPES:
        assert kinds[name] in ("comparison", "sweep"), name


def _parsed(argv: list[str]) -> tuple[str, dict]:
    """Parse an optlab command line with the real click commands, running nothing."""
    group = typer.main.get_command(app)
    command = group.get_command(click.Context(group), argv[0])
    ctx = command.make_context(argv[0], list(argv[1:]))
    return argv[0], ctx.params


@pytest.mark.parametrize("recipe", [r for r in ALL if r.kind != "run"], ids=lambda r: r.name)
def test_each_comparison_and_sweep_command_builds_its_plan(recipe):
    """The stated command parses and every variant / trial config validates (nothing is trained)."""
    from optlab.studies.compare import make_plan
    from optlab.studies.sweep import make_plan as sweep_plan
    from optlab.studies.variants import build_variants

    name, p = _parsed(recipe.argv())
    if name == "compare":
        base, varied, variants = build_variants(resolve(p["config"]).path, p["words"] or [], p["vary"])
        plan = make_plan(variants, base, varied, seeds=p["seeds"])
        assert len(plan.variants) >= 2
    else:
        plan = sweep_plan(resolve(p["config"]).path, p["words"] or [], trials=p["trials"], grid=p["grid"])
        assert len(plan.configs) >= 2


def test_the_hiker_gives_each_strategy_its_own_settings_on_one_model():
    from optlab.studies.variants import build_variants

    base, varied, variants = build_variants(find("hiker").path, [])
    by = {v.label: v.config for v in variants}
    assert list(by) == ["random", "local", "gradient"] and varied == "variant"
    assert {c.search.strategy for c in by.values()} == {"random", "local", "gradient"}
    assert len({(c.model.name, c.model.bias, c.loss.name, c.data.name, c.data.train_size) for c in by.values()}) == 1
    g = by["gradient"]
    assert g.data.preprocess == "center" and g.regularization.l2 > 0 and g.train.batch_size == 200
    assert by["random"].data.preprocess == "none" and by["random"].regularization.l2 == 0


def test_a_bad_key_in_a_named_variant_is_located(tmp_path):
    from optlab.studies.variants import build_variants

    text = find("hiker").path.read_text().replace("search.step: 1.0e-4", "search.stepp: 1.0e-4")
    (tmp_path / "h.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        build_variants(tmp_path / "h.yaml", [])
    assert any(p.where == "compare.variants.local" and "stepp" in str(p) for p in info.value.problems)


# ------------------------------------------------------------------------------------------------
# names and paths
# ------------------------------------------------------------------------------------------------
def test_names_resolve_file_first_then_local_yaml_then_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("quickstart").origin == "recipe:quickstart"
    assert resolve("quickstart.yaml").origin == "recipe:quickstart"
    (tmp_path / "quickstart.yaml").write_text(find("quickstart").path.read_text())
    assert resolve("quickstart").origin == "quickstart.yaml"       # a local file wins over the recipe
    assert resolve("quickstart.yaml").origin == "quickstart.yaml"
    sub = tmp_path / "sub" / "x.yaml"
    assert resolve(str(sub)).path == sub                               # a path: the loader says "no such file"
    with pytest.raises(ConfigError) as info:
        resolve("quikstart")
    assert "did you mean 'quickstart'?" in str(info.value.problems[0])


def test_header_fields_continue_and_notes_are_cut_from_commands():
    fields = parse_header("# Question: why\n#   this?\n# Source: a book,\n#   ch. 3\n"
                          "# Command: optlab train x   (a note)\n#   more about it\n# Command: optlab compare\nname: x\n")
    assert fields == {"question": ["why", "this?"], "source": ["a book,", "ch. 3"],
                      "command": ["optlab train x", "optlab compare"]}


def _train(args, runs: Path):
    return RUNNER.invoke(app, ["train", *args, "--runs-dir", str(runs), "--quiet"])


def test_train_by_name_from_anywhere_and_meta_says_which_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _train(["slowdown_quadratic", "train.epochs=3"], tmp_path / "runs")
    assert out.exit_code == 0, out.output
    meta = json.loads(next((tmp_path / "runs").glob("*/meta.json")).read_text())
    assert meta["config"] == "recipe:slowdown_quadratic"
    # an edited local copy of the same name wins, and the record says so
    assert RUNNER.invoke(app, ["recipes", "copy", "slowdown_quadratic"]).exit_code == 0
    out = _train(["slowdown_quadratic", "train.epochs=3"], tmp_path / "runs2")
    meta = json.loads(next((tmp_path / "runs2").glob("*/meta.json")).read_text())
    assert out.exit_code == 0 and meta["config"] == "slowdown_quadratic.yaml"


def test_unknown_names_get_the_closest_recipe_and_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["train", "quikstart"], ["recipes", "show", "quikstart"], ["recipes", "copy", "quikstart"],
                 ["sweep", "quikstart", "--grid", "optimizer.lr=0.1,0.2"]):
        out = RUNNER.invoke(app, argv)
        assert out.exit_code == 2, (argv, out.output)
        assert "did you mean 'quickstart'?" in out.output and "Traceback" not in out.output
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------------
# optlab recipes
# ------------------------------------------------------------------------------------------------
def test_recipes_lists_every_recipe_with_its_kind():
    out = RUNNER.invoke(app, ["recipes"], terminal_width=250)
    assert out.exit_code == 0, out.output
    for r in ALL:
        assert r.name in out.output
    assert "comparison" in out.output and "sweep" in out.output and "run" in out.output


def test_recipes_show_prints_the_file():
    out = RUNNER.invoke(app, ["recipes", "show", "bowl"])
    assert out.exit_code == 0 and out.output == find("bowl").path.read_text()


def test_recipes_copy_writes_an_editable_copy_and_never_overwrites_silently(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert RUNNER.invoke(app, ["recipes", "copy", "bowl"]).exit_code == 0
    assert (tmp_path / "bowl.yaml").read_text() == find("bowl").path.read_text()
    again = RUNNER.invoke(app, ["recipes", "copy", "bowl"])
    assert again.exit_code == 2 and "already exists" in again.output
    assert RUNNER.invoke(app, ["recipes", "copy", "bowl", "--force"]).exit_code == 0
    (tmp_path / "mine").mkdir()
    assert RUNNER.invoke(app, ["recipes", "copy", "bowl", "mine"]).exit_code == 0
    assert RUNNER.invoke(app, ["recipes", "copy", "bowl", "other/b2.yaml"]).exit_code == 0
    assert (tmp_path / "mine" / "bowl.yaml").is_file() and (tmp_path / "other" / "b2.yaml").is_file()
