"""What keeps a study (a comparison, a sweep) safe on ``--resume`` and ``optlab report``: every
directory its manifest names stays inside it (optlab.record.contained), one driver at a time (the
study's writer lock), and an Optuna sweep's storage must hold the trials sweep.json lists. Each
refusal is exit 2 with the directory left byte for byte as it was."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import TINY_CONFIG
from typer.testing import CliRunner

from optlab.cli import app
from optlab.record.guard import WriterLock
from optlab.studies.compare import make_plan, run_compare
from optlab.studies.study import StudySession
from optlab.studies.sweep import make_plan as make_sweep_plan
from optlab.studies.sweep import run_sweep
from optlab.studies.variants import build_variants

CONFIG = TINY_CONFIG.replace("epochs: 4, eval_every: 3", "iterations: 8, eval_every: 4") + \
    "diagnostics: {update_ratios: false, histograms: []}\n"


@pytest.fixture(autouse=True)
def no_trial_plots(monkeypatch):
    """Each trial's own figures are optlab train's business (tested there)."""
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


def snapshot(folder: Path) -> dict:
    """Every path under ``folder`` (links as their targets) with its bytes: what 'untouched' means."""
    out = {}
    for p in sorted(folder.rglob("*")):
        key = str(p.relative_to(folder))
        out[key] = ("link", os.readlink(p)) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


def words(r) -> str:
    return " ".join(r.output.split())


@pytest.fixture
def sweep_dir(tmp_path) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    plan = make_sweep_plan(config, ["optimizer.lr=log:1e-3:1e-1"], trials=2)
    return run_sweep(plan, tmp_path / "runs", StudySession.local(1, trial_reports=False)).path


@pytest.fixture
def victim(tmp_path) -> Path:
    folder = tmp_path / "victim"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    return folder


def test_a_sweep_manifest_naming_a_folder_outside_is_refused_by_resume_and_report(sweep_dir, victim):
    m = json.loads((sweep_dir / "sweep.json").read_text())
    for bad in ("../../victim", str(victim)):
        m["trials"][1]["dir"] = bad
        (sweep_dir / "sweep.json").write_text(json.dumps(m))
        before = snapshot(sweep_dir.parent.parent)
        r = CliRunner().invoke(app, ["sweep", "--resume", str(sweep_dir), "-j", "1", "-q"])
        assert r.exit_code == 2, r.output
        assert "outside the study directory" in words(r) or "absolute path" in words(r)
        assert "Traceback" not in r.output and snapshot(sweep_dir.parent.parent) == before
        r = CliRunner().invoke(app, ["report", str(sweep_dir)])
        assert r.exit_code == 2 and "[bold red]" not in r.output, r.output
        assert snapshot(sweep_dir.parent.parent) == before


def test_a_trial_directory_planted_as_a_link_outside_is_refused(sweep_dir, victim):
    shutil.rmtree(sweep_dir / "trials" / "t001")
    (sweep_dir / "trials" / "t001").symlink_to(victim)            # a restart would rmtree it
    before = snapshot(sweep_dir.parent.parent)
    r = CliRunner().invoke(app, ["sweep", "--resume", str(sweep_dir), "-j", "1", "-q"])
    assert r.exit_code == 2 and "outside the study directory" in words(r), r.output
    assert snapshot(sweep_dir.parent.parent) == before and (victim / "precious.txt").read_text() == "keep me"


def test_a_second_driver_of_one_study_is_refused_naming_the_holder(sweep_dir, tmp_path):
    lock = WriterLock(sweep_dir).acquire()             # as a first `sweep --resume` holds it
    try:
        before = snapshot(sweep_dir)
        r = CliRunner().invoke(app, ["sweep", "--resume", str(sweep_dir), "-j", "1", "-q"])
        assert r.exit_code == 2, r.output
        assert f"pid {os.getpid()}" in words(r) and "one driver per study" in words(r)
        assert snapshot(sweep_dir) == before
    finally:
        lock.release()
    r = CliRunner().invoke(app, ["sweep", "--resume", str(sweep_dir), "-j", "1", "-q"])   # free again
    assert r.exit_code == 0, r.output


def test_compare_resume_checks_its_manifest_its_lock_and_its_extras_before_any_trial(tmp_path, victim,
                                                                                     monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    base, varied, variants = build_variants(config, ["sgd", "adam"])
    path = run_compare(make_plan(variants, base, varied), tmp_path / "runs", StudySession.local(1, trial_reports=False)).path
    shutil.rmtree(path / "trials" / "adam-s1")                      # one trial left to run
    good = (path / "compare.json").read_text()
    m = json.loads(good)
    m["variants"][0]["trials"] = [str(victim)]
    (path / "compare.json").write_text(json.dumps(m))
    before = snapshot(tmp_path)
    r = CliRunner().invoke(app, ["compare", "--resume", str(path), "-j", "1", "-q"])
    assert r.exit_code == 2 and "absolute path" in words(r) and snapshot(tmp_path) == before, r.output

    (path / "compare.json").write_text(good)
    with WriterLock(path):
        r = CliRunner().invoke(app, ["compare", "--resume", str(path), "-j", "1", "-q"])
        assert r.exit_code == 2 and f"pid {os.getpid()}" in words(r), r.output

    from optlab.record import tensorboard

    def missing():
        raise tensorboard.TensorBoardMissing("logging.tensorboard needs tensorboardX: pip install "
                                             "\"optlab[tensorboard]\"")
    monkeypatch.setattr(tensorboard, "require", missing)
    r = CliRunner().invoke(app, ["compare", "--resume", str(path), "--tensorboard", "-j", "1", "-q"])
    assert r.exit_code == 2 and "optlab[tensorboard]" in r.output, r.output   # not eaten as markup
    assert not (path / "trials" / "adam-s1").exists()


optuna = None


@pytest.fixture
def tune_dir(tmp_path) -> Path:
    global optuna
    optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")
    from optlab.studies.tune import make_tune_plan, run_tune

    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    plan = make_tune_plan(config, ["optimizer.lr=log:1e-3:1e-1"], trials=2, sampler="random", seed=1)
    return run_tune(plan, tmp_path / "runs", StudySession.local(1)).path


def resume_tune(path: Path, *more: str):
    return CliRunner().invoke(app, ["sweep", "--resume", str(path), "--trials", "3", "-j", "1", "-q", *more])


def test_an_optuna_sweep_resumes_only_into_the_storage_that_holds_its_trials(tune_dir, tmp_path, victim):
    db = tune_dir / "study.db"
    kept = db.read_bytes()
    db.unlink()                                                         # deleted
    before = snapshot(tune_dir)
    r = resume_tune(tune_dir)
    assert r.exit_code == 2 and "study.db is missing" in words(r) and "numbers 0, 1" in words(r), r.output
    assert snapshot(tune_dir) == before                                 # no fresh study.db

    db.write_bytes(b"")                                                 # emptied
    r = resume_tune(tune_dir)
    assert r.exit_code == 2 and "study.db is empty" in words(r), r.output
    assert db.read_bytes() == b""

    other = f"sqlite:///{tmp_path / 'other.db'}"                         # a storage without this study
    optuna.create_study(study_name="someone-else", storage=other)
    r = resume_tune(tune_dir, "--storage", other)
    assert r.exit_code == 2 and "holds no study named" in words(r) and "'someone-else'" in words(r), r.output

    name = json.loads((tune_dir / "sweep.json").read_text())["study_name"]
    optuna.create_study(study_name=name, storage=other)                # the name, but not the trials
    r = resume_tune(tune_dir, "--storage", other)
    assert r.exit_code == 2 and "holds 0 trial(s), and sweep.json lists 2: trial number(s) 0, 1 are missing" \
        in words(r), r.output

    same = optuna.create_study(study_name=name, storage=other.replace("other.db", "same.db"))
    for lr in (0.5, 0.25):                                             # the numbers 0, 1, another sweep's values
        same.enqueue_trial({"optimizer.lr": lr})
        t = same.ask({"optimizer.lr": optuna.distributions.FloatDistribution(1e-3, 1e-1 * 10, log=True)})
        same.tell(t, 0.5)
    r = resume_tune(tune_dir, "--storage", other.replace("other.db", "same.db"))
    assert r.exit_code == 2 and "holds other values than sweep.json for trial number(s) 0, 1" in words(r), r.output

    db.write_bytes(kept)
    m = json.loads((tune_dir / "sweep.json").read_text())
    m["trials"][0]["dir"] = "../../victim"
    (tune_dir / "sweep.json").write_text(json.dumps(m))
    before = snapshot(tmp_path)
    r = resume_tune(tune_dir)
    assert r.exit_code == 2 and "outside the study directory" in words(r) and snapshot(tmp_path) == before, r.output


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_storage_is_refused_for_a_resumable_sweep(tmp_path, url):
    pytest.importorskip("optuna")
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG)
    r = CliRunner().invoke(app, ["sweep", str(config), "optimizer.lr=log:1e-3:1", "--trials", "2", "--storage", url,
                                 "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 2 and "keeps the study in memory" in words(r), r.output
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())
