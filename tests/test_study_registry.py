"""A kind of study is one object: `optlab report DIR` and `--resume DIR` find it by the manifest
in DIR (optlab.record.reports.DIRECTORIES, optlab.studies.registry), a directory with none gets the same
clear error from both, and no module but the registries tests for a manifest file."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from conftest import found_in_sources
from typer.testing import CliRunner

from optlab.cli import app
from optlab.record.reports import DIRECTORIES, render_directory
from optlab.studies import compare, registry, sweep, tune
from optlab.studies.study import StudyResult

runner = CliRunner()

MANIFESTS = {                                   # the least each kind's manifest holds, with no trial
    "compare": ("compare.json", {"variants": [], "status": "running"}),
    "sweep": ("sweep.json", {"mode": "random", "trials": [], "status": "running"}),
    "optuna": ("sweep.json", {"mode": "optuna", "trials": [], "status": "running"}),
}
STUDY = {"compare": compare.STUDY, "sweep": sweep.STUDY, "optuna": tune.STUDY}
COMMAND = {"compare": "compare", "sweep": "sweep", "optuna": "sweep"}


def study_dir(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / kind
    path.mkdir()
    name, manifest = MANIFESTS[kind]
    (path / name).write_text(json.dumps(manifest))
    return path


@pytest.mark.parametrize("kind", ["compare", "sweep", "optuna"])
def test_report_dispatches_on_the_manifest(tmp_path, monkeypatch, kind):
    path = study_dir(tmp_path, kind)
    drawn = []
    for module in ("compare_report", "sweep_report"):
        monkeypatch.setattr(f"optlab.record.{module}.render_{module.split('_')[0]}",
                            lambda p, **options: drawn.append((p, options)))
    assert render_directory(path) == STUDY[kind].kind
    STUDY[kind].report(path, html_only=True)
    assert drawn == [(path, {"overrides": [], "files": True}), (path, {"overrides": [], "files": False})]


@pytest.mark.parametrize("kind", ["compare", "sweep", "optuna"])
def test_resume_dispatches_on_the_manifest(tmp_path, monkeypatch, kind):
    path = study_dir(tmp_path, kind)
    assert registry.study_in(path, COMMAND[kind]) is STUDY[kind]
    resumed = []
    for name, study in STUDY.items():   # every study but the one in path would fail the test if called
        monkeypatch.setattr(study, "resume_plan", lambda p, given, name=name: f"plan of {name}")
        monkeypatch.setattr(study, "configs", lambda plan: [])
        monkeypatch.setattr(study, "resume", lambda p, plan, session: resumed.append((p, plan, session)) or
                            StudyResult(p, "completed", [], []))
    monkeypatch.setattr("optlab.cli.study_run.show_results", lambda *a, **k: None)
    result = runner.invoke(app, [COMMAND[kind], "--resume", str(path), "-q", "-j", "1", "--no-trial-figures"])
    assert result.exit_code == 0, result.output
    [(where, plan, session)] = resumed
    assert where == path and plan == f"plan of {kind}"
    assert session.executor.workers == 1 and session.command and session.trial_reports is False


@pytest.mark.parametrize("kind", ["compare", "sweep", "optuna"])
def test_resume_by_the_other_command_names_the_right_one(tmp_path, kind):
    path = study_dir(tmp_path, kind)
    other = "sweep" if COMMAND[kind] == "compare" else "compare"
    result = runner.invoke(app, [other, "--resume", str(path), "-q"])
    assert result.exit_code == 2, result.output
    assert f"optlab {COMMAND[kind]} --resume {path}" in " ".join(result.output.split())


@pytest.mark.parametrize("contents", ["nothing", "a run", "no directory"])
def test_a_directory_without_a_known_manifest_gets_one_clear_error(tmp_path, contents):
    path = tmp_path / "plain"
    if contents != "no directory":
        path.mkdir()
    if contents == "a run":
        (path / "metrics.csv").write_text("step\n")
    said = {}
    for args in (["compare", "--resume"], ["sweep", "--resume"], ["report"]):
        result = runner.invoke(app, [*args, str(path)])
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        said[args[0]] = " ".join(result.output.split())
    assert "not a comparison (no compare.json)" in said["compare"]
    assert "not a sweep (no sweep.json)" in said["sweep"]
    if contents == "nothing":
        assert ("not a run directory (no metrics.csv), a comparison (no compare.json) nor a sweep "
                "(no sweep.json)") in said["report"]
    elif contents == "no directory":
        assert "no such directory" in said["report"]


@pytest.mark.parametrize("kind", ["compare", "sweep"])
@pytest.mark.parametrize("text", ['{"mode": "random", "trials": ', "[1, 2]", '{"mode": "random"}'])
def test_a_manifest_cut_short_or_edited_is_exit_2_on_resume(tmp_path, kind, text):
    path = study_dir(tmp_path, kind)
    (path / MANIFESTS[kind][0]).write_text(text)
    result = runner.invoke(app, [COMMAND[kind], "--resume", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert result.output.startswith("error: ") and str(path) in " ".join(result.output.split()), result.output


# ------------------------------------------------------------------------------------------------
# no marker-file tests outside the registries
# ------------------------------------------------------------------------------------------------
REGISTRIES = {"optlab/record/reports.py", "optlab/studies/registry.py", "optlab/studies/study.py"}
MARKERS = {k.marker for k in DIRECTORIES}
STUDY_MARKERS = {k.marker for k in DIRECTORIES if k.study}


def marker_checks(source: str) -> list[int]:
    """Lines that test for a kind's marker file: ``(p / "sweep.json").is_file()`` (or
    ``.exists()``) on a study's manifest, or a tuple, list or set naming two markers (a loop or
    ``any`` over the kinds)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("is_file", "exists"):
            if any(isinstance(c, ast.Constant) and c.value in STUDY_MARKERS for c in ast.walk(node.func.value)):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            if sum(isinstance(e, ast.Constant) and e.value in MARKERS for e in node.elts) >= 2:
                lines.append(node.lineno)
    return lines


def test_the_check_finds_an_if_chain_on_marker_files():
    chain = ('if (path / "sweep.json").is_file():\n    pass\nelif (path / "compare.json").exists():\n    pass\n'
             'missing = [d for d in dirs if not any((d / f).is_file() for f in ("compare.json", "metrics.csv"))]\n')
    assert marker_checks(chain) == [1, 3, 5]


def test_no_module_outside_the_registries_tests_for_a_manifest_file():
    found = found_in_sources(marker_checks, REGISTRIES)
    assert found == {}, f"a marker-file test outside {sorted(REGISTRIES)} (use optlab.record.reports.directory_kind " \
                        f"or optlab.studies.registry.study_in): {found}"
