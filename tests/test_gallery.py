"""The gallery (#15): every number optlab produced that README.md and docs/ quote comes from
docs/gallery/results.json, and the recipes still produce those numbers.

- the docs are exactly what benchmarks/gallery_docs.py renders from results.json (a number typed
  by hand, or a stale table, fails here);
- the cheap recipes are re-run here on every test run and must give the numbers as quoted
  (compared after rendering: what matters is what a reader sees);
- the expensive ones (MNIST, minutes) are re-run by ``pytest -m slow`` and by benchmarks/gallery.py.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from pathlib import Path

import pytest
from conftest import REPO
from typer.testing import CliRunner

sys.path.insert(0, str(REPO / "benchmarks"))

import gallery  # noqa: E402
import gallery_docs  # noqa: E402

RESULTS = json.loads(gallery.RESULTS.read_text()) if gallery.RESULTS.exists() else {}


def test_the_docs_quote_exactly_the_results_file():
    stale = gallery_docs.stale(RESULTS)
    assert not stale, f"out of date with docs/gallery/results.json: {stale} (python benchmarks/gallery.py --docs)"


def test_every_gallery_recipe_has_run_and_its_figure_is_committed_and_small():
    missing = [name for name in gallery.ALL if name not in RESULTS]
    assert not missing, f"not in results.json: {missing} (python benchmarks/gallery.py --only {' '.join(missing)})"
    figures = [gallery.GALLERY / f"{n}.png" for n, f in gallery.FIGURES.items() if f]
    assert all(p.is_file() for p in figures)
    assert sum(p.stat().st_size for p in figures) < 2_500_000, "keep the committed figures small"
    text = gallery_docs.GALLERY_MD.read_text()
    assert all(f"(gallery/{p.name})" in text for p in figures)


def test_no_block_is_left_unrendered_and_no_old_hand_typed_result_survives():
    for path in gallery_docs.doc_files():
        text = path.read_text()
        assert "not yet run" not in text, path
        assert len(re.findall(r"<!-- gallery:[a-z-]+ -->", text)) == len(re.findall(r"<!-- /gallery:[a-z-]+ -->", text)), path
    readme = (REPO / "README.md").read_text()
    # the drifted numbers of issue #15 (README's DLFS table, techniques, the Nielsen slowdown)
    assert "| adam | 0.054 |" not in readme and "0.043 after 100 epochs" not in readme


def _run_in_process(name: str, runs: Path, monkeypatch) -> Path:
    """The command gallery.py runs, through the CLI in this process (no start-up per recipe, one
    worker so the trials run here too), without saving figures, drawing the pages' SVG copies or
    the trials' own reports: the numbers are what is checked."""
    from optlab.cli import app
    from optlab.record.rundir import RunDir

    monkeypatch.setattr(RunDir, "write_figure", lambda self, name, fig: self.path / name)
    monkeypatch.setattr("optlab.record.figure_set.svg_text", lambda fig: "<svg></svg>")
    argv = shlex.split(gallery.command_of(name))[1:]
    extra = {"compare": ["--workers", "1", "--no-trial-figures"], "sweep": ["--workers", "1"]}.get(argv[0], [])
    out = CliRunner().invoke(app, [*argv, *extra, "--runs-dir", str(runs), "--quiet"])
    assert out.exit_code in (0, 1), out.output
    [path] = [p for p in runs.iterdir() if p.is_dir()]
    return path


def _assert_same_as_quoted(name: str, path: Path) -> None:
    fresh = gallery.collect(name, path)
    assert gallery_docs.rendered({**RESULTS, name: {**RESULTS[name], **fresh}}) == gallery_docs.rendered(RESULTS), (
        f"{name} no longer gives the numbers the docs quote (python benchmarks/gallery.py --only {name})")


@pytest.mark.parametrize("name", gallery.CHEAP)
def test_cheap_recipes_still_give_the_quoted_numbers(name, tmp_path, monkeypatch):
    _assert_same_as_quoted(name, _run_in_process(name, tmp_path, monkeypatch))


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in gallery.ALL if n not in gallery.CHEAP])
def test_expensive_recipes_still_give_the_quoted_numbers(name, tmp_path, monkeypatch):
    data = os.environ.get("OPTLAB_TEST_DATA")
    if not data:
        pytest.skip("OPTLAB_TEST_DATA is unset (a directory with the genuine MNIST files, mnist/)")
    monkeypatch.setenv("OPTLAB_DATA_DIR", data)
    _assert_same_as_quoted(name, _run_in_process(name, tmp_path, monkeypatch))


def test_the_readme_example_output_of_the_quickstart_is_what_it_produces():
    """README's `optlab train quickstart` example (a terminal transcript, not a generated block)
    quotes the quickstart's accuracies, peak steps and losses: they must be results.json's."""
    from gallery_docs import pct

    r = RESULTS["quickstart"]
    readme = (REPO / "README.md").read_text()
    for split, peak in (("train", True), ("validation", True), ("test", False)):
        key = "val" if split == "validation" else split
        cells = [pct(r[f"{key}_final"]).rjust(14)]
        if peak:
            cells += [pct(r[f"{key}_peak"]).rjust(13), str(r[f"{key}_peak_step"]).rjust(12)]
        assert f"│ {split:<10} │ " + " │ ".join(cells) + " │" in readme, split
    assert f"final mini-batch loss: {r['final_loss']:.4g}" in readme
    assert f"final training loss: {r['final_train_loss']:.3g}" in readme and f"steps: {r['steps']} (" in readme
