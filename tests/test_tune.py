"""`optlab sweep --sampler/--pruner`: Optuna's ask-and-tell driving optlab's trials, the study in
its own SQLite storage, pruning inside a trial (status pruned, resumable bit-identically),
--resume, and bad input (exit 2 before any trial)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

optuna = pytest.importorskip("optuna", reason="optuna is the optlab[tune] extra (in the test extra)")

from optlab.cli import app  # noqa: E402
from optlab.config.loading import ConfigError, load_config  # noqa: E402
from optlab.record.rundir import RunDir, read_metrics  # noqa: E402
from optlab.studies import optuna_parts  # noqa: E402
from optlab.studies.tune import make_tune_plan, run_tune  # noqa: E402
from optlab.studies.study import StudySession
from optlab.training.interrupt import StopRequest  # noqa: E402
from optlab.training.run import resume, run  # noqa: E402

CONFIG = """\
name: tiny
seed: 1
data: {name: spiral, classes: 3, size: 90, val_size: 30, test_size: 30}
model: {name: mlp, hidden: [8], activation: relu}
loss: cross_entropy
optimizer: {name: adam, lr: 0.01}
train: {batch_size: 30, epochs: 4, eval_every: 2, dtype: float64}
"""


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(CONFIG)
    return path


@pytest.fixture(autouse=True)
def no_trial_plots(monkeypatch):
    """Each trial's own report (its figures) is optlab train's business, tested there; here it
    would be most of the time."""
    monkeypatch.setattr("optlab.record.trial_reports.render_trial_reports", lambda *a, **k: 0)


def manifest(path: Path) -> dict:
    return json.loads((path / "sweep.json").read_text())


def test_conditional_keys_study_in_sqlite_and_values_told(tiny, tmp_path):
    plan = make_tune_plan(tiny, ["optimizer.name=sgd,momentum", "optimizer.lr=log:1e-3:1",
                                 "optimizer.momentum=lin:0.5:0.95"], trials=4, sampler="random", seed=3)
    result = run_tune(plan, tmp_path / "runs", StudySession.local(1))
    m = manifest(result.path)
    assert m["mode"] == "optuna" and m["status"] == "completed" and len(m["trials"]) == 4
    study = optuna.load_study(study_name=m["study_name"], storage=f"sqlite:///{result.path / 'study.db'}")
    frozen = study.get_trials()
    assert [t.state for t in frozen] == [optuna.trial.TrialState.COMPLETE] * 4
    assert {e["values"]["optimizer.name"] for e in m["trials"]} == {"sgd", "momentum"}
    for entry, t in zip(m["trials"], frozen):
        assert ("optimizer.momentum" in entry["values"]) == (entry["values"]["optimizer.name"] == "momentum")
        assert set(t.params) == set(entry["values"])       # suggested inside the branch, as in Optuna
        summary = RunDir(result.path / entry["dir"]).read_json("summary.json")
        assert t.value == summary["accuracy"]["val"]["final"]
        config = load_config(result.path / entry["dir"] / "config.yaml", [])
        assert config.optimizer.name == entry["values"]["optimizer.name"]
        assert config.optimizer.lr == pytest.approx(entry["values"]["optimizer.lr"])
    assert (result.path / "results.md").exists() and (result.path / "budget.csv").exists()
    assert "## Tuning budget" in (result.path / "results.md").read_text()
    assert "Optuna random sampler (seed 3), no pruning, 4 trials" in (result.path / "report.html").read_text()


def test_a_seeded_sampler_repeats_its_sweep(tiny, tmp_path):
    runs = []
    for i in range(2):
        plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1", "train.batch_size=10,30"], trials=2, sampler="tpe",
                              seed=7)
        path = run_tune(plan, tmp_path / f"runs{i}", StudySession.local(1)).path
        runs.append([(e["values"], read_metrics(path / e["dir"] / "metrics.csv")["val_acc"])
                     for e in manifest(path)["trials"]])
    assert runs[0] == runs[1]


def test_a_pruned_trial_stops_after_its_evaluation_and_resumes_bit_identically(tiny, tmp_path, monkeypatch):
    # a real Optuna pruner through the driver's path: anything under 99 % at its first report is pruned
    monkeypatch.setattr(optuna_parts, "make_pruner", lambda *a: optuna.pruners.ThresholdPruner(lower=0.99))
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-4:1e-3", "train.epochs=300"], trials=1, sampler="random",
                          pruner="median")
    assert (plan.eval_every, plan.steps) == (2, 600)
    result = run_tune(plan, tmp_path / "runs", StudySession.local(1))
    m = manifest(result.path)
    assert [e["status"] for e in m["trials"]] == ["pruned"]
    study = optuna.load_study(study_name=m["study_name"], storage=f"sqlite:///{result.path / 'study.db'}")
    (frozen,) = study.get_trials()
    assert frozen.state == optuna.trial.TrialState.PRUNED
    trial_dir = result.path / m["trials"][0]["dir"]
    meta, summary = RunDir(trial_dir).read_json("meta.json"), RunDir(trial_dir).read_json("summary.json")
    assert meta["status"] == summary["status"] == "pruned" and list(frozen.intermediate_values) == [meta["pruned_at"]]
    steps = read_metrics(trial_dir / "metrics.csv")["step"]
    assert steps[-1] == meta["pruned_at"] == 2        # run alone: stopped right after the evaluation that condemned it
    config = load_config(trial_dir / "config.yaml", [])
    assert resume(trial_dir, config).status == "completed"                     # optlab train --resume
    fresh = run(config, tmp_path / "fresh", dir_name="t")
    a, b = read_metrics(trial_dir / "metrics.csv"), read_metrics(fresh.run_dir / "metrics.csv")
    for column in ("step", "loss", "val_acc", "train_loss"):
        assert np.array_equal(a[column], b[column], equal_nan=True)
    assert (result.path / "curves.png").exists()


def test_resume_continues_an_interrupted_trial_in_place_and_finishes_the_budget(tiny, tmp_path):
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1"], trials=1, sampler="random", seed=1)
    path = run_tune(plan, tmp_path / "runs", StudySession.local(1)).path
    m = manifest(path)                                   # as if Ctrl-C had stopped a second trial at step 3
    study = optuna.load_study(study_name=m["study_name"], storage=f"sqlite:///{path / 'study.db'}")
    lost = study.ask({"optimizer.lr": optuna.distributions.FloatDistribution(1e-3, 1, log=True)})
    config = load_config(path / "config.yaml", [f"optimizer.lr={lost.params['optimizer.lr']}"])
    stop = StopRequest()
    run(config, path / "trials", dir_name="t001", stop=stop,
        on_step=lambda step, total, loss: stop.request() if step == 3 else None)
    m["trials"].append({"index": 1, "dir": "trials/t001", "number": lost.number, "values": dict(lost.params),
                        "status": "running"})
    m["status"] = "interrupted"
    RunDir(path).write_json("sweep.json", m)
    r = CliRunner().invoke(app, ["sweep", "--resume", str(path), "--trials", "3", "-j", "1", "-q"])
    assert r.exit_code == 0, r.output
    m = manifest(path)
    assert [e["status"] for e in m["trials"]] == ["completed"] * 3 and len(m["resumed"]) == 1
    assert m["trials"][2]["values"] != m["trials"][0]["values"]     # a re-seeded sampler, not the first draws again
    study = optuna.load_study(study_name=m["study_name"], storage=f"sqlite:///{path / 'study.db'}")
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE"] * 3
    fresh = run(config, tmp_path / "fresh", dir_name="t")                    # continued = never stopped
    a, b = read_metrics(path / "trials/t001/metrics.csv"), read_metrics(fresh.run_dir / "metrics.csv")
    assert np.array_equal(a["val_acc"], b["val_acc"], equal_nan=True) and a["loss"] == b["loss"]
    assert study.get_trials()[1].value == RunDir(path / "trials/t001").read_json("summary.json")["accuracy"]["val"]["final"]


@pytest.mark.parametrize("args,message", [
    (["--sampler", "tpee"], "unknown sampler 'tpee'; did you mean 'tpe'?"),
    (["--pruner", "asah"], "unknown pruner 'asah'; did you mean 'asha'?"),
    (["--pruner", "median", "train.eval_every=100"], "evaluates only at the end, so --pruner median cannot stop"),
    (["--storage", "nosuchdb://x"], "--storage cannot open 'nosuchdb://x'"),
    (["--sampler", "tpe", "optimizer.momentum=lin:0.1:0.9"], "no optimizer searched has this setting"),
])
def test_bad_input_exits_2_before_any_trial(tiny, tmp_path, args, message):
    r = CliRunner().invoke(app, ["sweep", str(tiny), "optimizer.lr=log:1e-3:1", "--trials", "2", *args,
                                 "--runs-dir", str(tmp_path / "runs")])
    assert r.exit_code == 2, r.output
    assert message in " ".join(r.output.split())
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_a_coarse_evaluation_schedule_is_warned_about(tiny):
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1", "train.eval_every=4"], trials=2, pruner="asha")
    assert plan.warnings and "train.eval_every=4 over 8 steps gives 1 evaluation(s) before the end" in plan.warnings[0]


def test_resume_with_other_specs_or_of_a_random_sweep_is_refused(tiny, tmp_path):
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1"], trials=1, sampler="random")
    path = run_tune(plan, tmp_path / "runs", StudySession.local(1)).path
    r = CliRunner().invoke(app, ["sweep", str(tiny), "optimizer.lr=log:1e-4:1", "--resume", str(path)])
    assert r.exit_code == 2 and "optimizer.lr: log:1e-3:1 -> log:1e-4:1" in " ".join(r.output.split())
    m = manifest(path)
    m["mode"] = "random"
    RunDir(path).write_json("sweep.json", m)
    r = CliRunner().invoke(app, ["sweep", "--resume", str(path)])
    r = CliRunner().invoke(app, ["sweep", "--resume", str(path), "--sampler", "tpe"])
    assert r.exit_code == 2 and "not an Optuna study" in " ".join(r.output.split())


def test_without_the_extra_the_message_says_how_to_install_it(tiny, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "optuna", None)
    r = CliRunner().invoke(app, ["sweep", str(tiny), "optimizer.lr=log:1e-3:1", "--trials", "2", "--sampler", "tpe"])
    assert r.exit_code == 2 and 'pip install -e ".[tune]"' in r.output
    with pytest.raises(ConfigError):   # a plain random sweep still plans without Optuna
        from optlab.studies.sweep import make_plan
        make_plan(tiny, [], trials=2)


def test_specs_map_onto_optunas_distributions_and_samplers_are_seeded(tiny):
    from optlab.studies.sweep import parse_param

    params = [parse_param(w, grid=False) for w in ("optimizer.lr=log:1e-4:1", "model.hidden=[8],[16, 16]",
                                                    "train.batch_size=int:10:30", "regularization.l2=lin:0:0.01")]
    study = optuna.create_study(sampler=optuna_parts.make_sampler("qmc", 0))
    trial = study.ask()
    values = optuna_parts.suggest(trial, params, None)
    d = trial.distributions
    assert d["optimizer.lr"] == optuna.distributions.FloatDistribution(1e-4, 1, log=True)
    assert d["regularization.l2"] == optuna.distributions.FloatDistribution(0, 0.01)
    assert d["train.batch_size"] == optuna.distributions.IntDistribution(10, 30)
    assert d["model.hidden"] == optuna.distributions.CategoricalDistribution(["[8]", "[16, 16]"])
    assert values["model.hidden"] in ([8], [16, 16])                       # the parsed value, not its text
    grid = make_tune_plan(tiny, ["optimizer.lr=log:1e-3:1e-1:3", "optimizer.name=sgd,adam"], trials=None,
                          sampler="grid")
    assert grid.trials == 6 and optuna_parts.grid_space(grid.params)["optimizer.lr"] == pytest.approx([1e-3, 1e-2, 1e-1])
    pruners = {name: optuna_parts.make_pruner(name, 4, 200) for name in optuna_parts.PRUNERS}
    assert isinstance(pruners["median"], optuna.pruners.MedianPruner)
    assert isinstance(pruners["asha"], optuna.pruners.SuccessiveHalvingPruner)
    assert isinstance(pruners["hyperband"], optuna.pruners.HyperbandPruner)
    assert isinstance(pruners["none"], optuna.pruners.NopPruner)
    for name in ("tpe", "random", "qmc"):
        draws = []
        for _ in range(2):
            s = optuna.create_study(sampler=optuna_parts.make_sampler(name, 5))
            draws.append([optuna_parts.suggest(s.ask(), params[:1], None) for _ in range(3)])
        assert draws[0] == draws[1]


def test_pruning_in_a_local_pool(tiny, tmp_path, monkeypatch):
    """Two workers, trials asked asynchronously (--async): the evaluation rows come through the
    pool's queue to the driver, whose verdict reaches each worker through the shared stop flags
    (reused by the next trial in the slot) while the trial waits for it; every trial ends pruned
    at the very step of the evaluation that condemned it (docs/sweep.md, "Pruning")."""
    monkeypatch.setattr(optuna_parts, "make_pruner", lambda *a: optuna.pruners.ThresholdPruner(lower=0.99))
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-4:1e-3", "train.epochs=30000"], trials=3, sampler="random",
                          pruner="median", asynchronous=True)
    result = run_tune(plan, tmp_path / "runs", StudySession.local(2, command=[]))
    for entry in manifest(result.path)["trials"]:
        meta = RunDir(result.path / entry["dir"]).read_json("meta.json")
        assert entry["status"] == meta["status"] == "pruned" and meta["pruned_at"] == 2
        assert read_metrics(result.path / entry["dir"] / "metrics.csv")["step"][-1] == meta["pruned_at"]


def test_pruning_on_a_dask_cluster(tiny, tmp_path, monkeypatch):
    """The driver prunes from the evaluation events a Dask LocalCluster (127.0.0.1) delivers and
    stops the trial there at the step of that evaluation (the trial waits for the verdict); the
    run directory lands on the driver's disk marked pruned."""
    pytest.importorskip("distributed", reason="dask[distributed] is the optlab[dask] extra")
    from optlab.studies.executor import ExecutorSpec

    monkeypatch.setattr(optuna_parts, "make_pruner", lambda *a: optuna.pruners.ThresholdPruner(lower=0.99))
    plan = make_tune_plan(tiny, ["optimizer.lr=log:1e-4:1e-3", "train.epochs=30000"], trials=2, sampler="random",
                          pruner="median")
    result = run_tune(plan, tmp_path / "runs", StudySession(executor=ExecutorSpec("dask", 2, None), command=[]))
    for entry in manifest(result.path)["trials"]:
        meta = RunDir(result.path / entry["dir"]).read_json("meta.json")
        assert entry["status"] == meta["status"] == "pruned"
        assert read_metrics(result.path / entry["dir"] / "metrics.csv")["step"][-1] == meta["pruned_at"]


def test_two_drivers_share_one_study_through_a_storage_url(tiny, tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    paths = []
    for i in range(2):
        r = CliRunner().invoke(app, ["sweep", str(tiny), "optimizer.lr=log:1e-3:1", "--trials", "1", "--sampler",
                                     "random", "--seed", str(i), "--storage", url, "--study-name", "shared", "-j", "1",
                                     "-q", "--runs-dir", str(tmp_path / f"runs{i}")])
        assert r.exit_code == 0, r.output
        paths.append(next((tmp_path / f"runs{i}").iterdir()))
    trials = optuna.load_study(study_name="shared", storage=url).get_trials()
    assert len(trials) == 2 and [t.state.name for t in trials] == ["COMPLETE"] * 2
    assert [manifest(p)["trials"][0]["number"] for p in paths] == [0, 1]
    assert manifest(paths[0])["storage"] == url and not (paths[0] / "study.db").exists()
    assert optuna_parts.shown("postgresql://me:secret@db/optlab") == "postgresql://me:***@db/optlab"
