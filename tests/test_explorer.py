"""The surface explorer and the time slider without a browser: the rules translated from the
engine's ``step`` methods, what a rule the translation cannot read gives, Goh's eigenvalues,
``optlab explore``'s files and exit codes, the explorer on a surface run's page, and where
``diagnostics.boundary_every`` is refused (the browser side: test_explorer_browser.py and
test_report_browser.py)."""

from __future__ import annotations

import json
import re

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, loads_config
from optlab.engine.optimizers import OPTIMIZERS, SGD
from optlab.engine.surfaces import OBJECTIVES
from optlab.record.explorer import explorer_page, hessian_eigenvalues
from optlab.record.rules_js import NOT_IN_EXPLORER, elementwise, rule_js, rules_js

runner = CliRunner()


def test_every_rule_is_translated_line_for_line():
    code = rules_js()
    assert all(f"  {name}: {{slots: {list(cls.slots)!r}" in code for name, cls in elementwise().items())
    # every elementwise rule is there but those whose step is not the whole rule (rules_js says why)
    assert set(elementwise()) == {n for n, c in OPTIMIZERS.items() if c.access == "elementwise"} - set(NOT_IN_EXPLORER)
    assert "Math.sign(((hp.beta1 * s.m) + ((1 - hp.beta1) * s.g)))" in code   # Lion
    assert "s.m = ((hp.beta1 * s.m) + ((1 - hp.beta1) * s.g));" in code   # Adam's first line, Python's order
    assert "var v_prev = s.v;" in code                                      # Nesterov's copy, taken before v changes


def test_a_rule_the_translation_cannot_read_is_refused_with_its_line():
    class Odd(SGD):
        def step(self, W, g):
            W, g = terms(self, W, g)  # noqa: F821
            W.sub(self.lr * abs(g))

    with pytest.raises(ValueError, match=r"Odd.step, line \d+: cannot write as JavaScript .*abs\(g\)"):
        rule_js(Odd)


def test_goh_marks_come_from_the_bowl_hessian_only():
    assert hessian_eigenvalues(OBJECTIVES["bowl"]) == (0.1, 2.0)     # f = x²/20 + y²: stable for lr < 2/2 = 1
    assert hessian_eigenvalues(OBJECTIVES["rosenbrock"]) is None       # not quadratic
    assert hessian_eigenvalues(OBJECTIVES["saddle"]) is None           # not convex


def test_optlab_explore_writes_one_offline_page(tmp_path):
    out = tmp_path / "bowl.html"
    result = runner.invoke(app, ["explore", "bowl", "-o", str(out), "--start=-5,1.5", "--steps", "40"])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    data = json.loads(re.search(r'id="explorer-data">(.*?)</script>', html).group(1))
    assert data["start"] == [-5.0, 1.5] and data["steps"] == 40 and len(data["paths"]) == len(elementwise())
    assert [p["hyper"]["lr"] for p in data["paths"][:2]] == [0.95, 0.1]   # the bowl recipe's rates
    assert not re.search(r"https?://(?!www.w3.org/2000/svg)", html) and "eval(" not in html   # nothing fetched
    assert "new Function" not in html and len(re.findall(r"<script>", html)) == 1   # one inline script


@pytest.mark.parametrize("args,words", [(["moon"], "unknown surface 'moon'"),
                                         (["bowl", "--start", "1"], "expected two finite numbers"),
                                         (["bowl", "-o", "/nonexistent/dir/x.html"], "cannot write")])
def test_optlab_explore_bad_input_is_exit_2(args, words):
    result = runner.invoke(app, ["explore", *args])
    assert result.exit_code == 2 and words in result.output


def test_a_surface_page_is_every_surface(tmp_path):
    for name in OBJECTIVES:
        assert 'data-explorer="explorer-data"' in explorer_page(name)


def test_boundary_needs_two_dimensional_data():
    with pytest.raises(ConfigError, match="boundary_every"):
        loads_config(TINY_CONFIG.replace("spiral, classes: 3", "blobs, dims: 3, classes: 3")
                     + "diagnostics: {boundary_every: 5}\n")
    assert loads_config(TINY_CONFIG + "diagnostics: {boundary_every: 5}\n").diagnostics.boundary_every == 5


def test_surface_run_and_comparison_pages_carry_the_explorer_at_their_settings(tmp_path):
    from optlab.config.loading import load_config
    from optlab.studies.compare import make_plan, run_compare
    from optlab.studies.study import StudySession
    from optlab.studies.variants import build_variants
    from optlab.training.run import run

    config = tmp_path / "bowl.yaml"
    config.write_text("name: bowl\nmodel: {name: surface, function: bowl, start: [-6.0, 1.0]}\n"
                      "optimizer: {name: momentum, lr: 0.05, momentum: 0.8, clip_norm: 5.0}\n"
                      "train: {iterations: 12, dtype: float64}\n")

    def explorer(page):
        return json.loads(re.search(r'id="explorer-data">(.*?)</script>', page.read_text()).group(1))
    one = explorer(run(load_config(config), tmp_path / "runs").run_dir / "report.html")
    assert one["start"] == [-6.0, 1.0] and one["steps"] == 12
    assert one["paths"] == [{"label": "momentum (this run)", "optimizer": "momentum", "color": one["paths"][0]["color"],
                             "hyper": {"lr": 0.05, "momentum": 0.8}, "on": True}]
    assert "gradient clipping" in one["note"]                     # what the page's paths leave out, said
    base, varied, variants = build_variants(config, ["sgd", "adam"], None)
    plan = make_plan(variants, base, varied, seeds=1, source={"config": str(config), "overrides": []})
    study = explorer(run_compare(plan, tmp_path / "studies", StudySession.local(1)).path / "report.html")
    assert [(p["label"], p["optimizer"]) for p in study["paths"]] == [("sgd", "sgd"), ("adam", "adam")]
