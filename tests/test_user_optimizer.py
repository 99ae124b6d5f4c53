"""A user's optimizer, from a file next to the config, used like a built-in one without touching
optlab's source: train, compare, an Optuna sweep of its own hyper-parameter, resume bit-identical,
``optlab optimizers`` and ``optimizers check``; a broken plugin is exit 2 with file and reason."""

from __future__ import annotations

import json
import pickle
import re
import signal
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_CONFIG, run_numbers
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config
from optlab.training import checkpoint
from optlab.training.interrupt import StopRequest
from optlab.training.run import resume, run

REPO = Path(__file__).resolve().parents[1]
# the complete user optimizer that docs/optimizers.md shows: the page's Python block, run as written
SIGN_DESCENT = re.search(r"```python\n(.*?)```", (REPO / "docs" / "optimizers.md").read_text(), re.S).group(1)


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


@pytest.fixture
def user_dir(tmp_path: Path) -> Path:
    (tmp_path / "signdescent.py").write_text(SIGN_DESCENT)
    (tmp_path / "sign.yaml").write_text(TINY_CONFIG.replace(
        "optimizer: {name: adam, lr: 0.01}", "optimizer: {name: signdescent, from: ./signdescent.py, lr: 0.01}"))
    return tmp_path


def test_train_and_resume_bit_identical(user_dir, monkeypatch):
    monkeypatch.chdir(user_dir.parent)      # the file is found relative to the config, not the directory
    config = load_config(user_dir / "sign.yaml")
    assert config.optimizer.hyper == {"lr": 0.01, "beta": 0.9, "weight_decay": 0.0, "clip_norm": None}
    assert pickle.loads(pickle.dumps(config)) == config       # as a study sends it to a worker process
    full = run(config, user_dir / "runs")
    losses = json.loads((full.run_dir / "summary.json").read_text())
    assert full.status == "completed" and np.isfinite(losses["final_train_loss"])
    stop = StopRequest()
    part = run(config, user_dir / "runs", stop=stop,
               on_step=lambda s, total, loss: stop.request(signal.SIGINT) if s == 5 else None)
    assert part.status == "interrupted"
    # the run directory's config names the file by its absolute path: resuming from anywhere finds it
    resumed_config = load_config(part.run_dir / "config.yaml")
    assert resumed_config.optimizer.from_ == str(user_dir / "signdescent.py")
    done = resume(part.run_dir, resumed_config)
    assert run_numbers(done.run_dir) == run_numbers(full.run_dir)
    a, b = checkpoint.load(full.run_dir / "checkpoint.npz"), checkpoint.load(done.run_dir / "checkpoint.npz")
    assert a.optimizer.keys() == b.optimizer.keys() and "m/fc1.W" in a.optimizer
    assert all(np.array_equal(a.optimizer[k], b.optimizer[k]) for k in a.optimizer)


def test_compare_and_an_optuna_sweep_of_its_own_hyper_parameter(user_dir, monkeypatch):
    for figures in ("optlab.record.compare_report.render_compare", "optlab.record.trial_reports.render_trial_reports"):
        monkeypatch.setattr(figures, lambda *a, **k: 0)      # the studies' figures are not under test here
    runner = CliRunner()
    r = runner.invoke(app, ["compare", "signdescent", "adam", "--config", str(user_dir / "sign.yaml"),
                            "--workers", "1", "--runs-dir", str(user_dir / "cmp"), "--quiet"])
    assert r.exit_code == 0, r.output
    trials = sorted(p.name for p in (next((user_dir / "cmp").iterdir()) / "trials").iterdir())
    assert trials == ["adam-s1", "signdescent-s1"]
    pytest.importorskip("optuna")
    r = runner.invoke(app, ["sweep", str(user_dir / "sign.yaml"), "optimizer.beta=lin:0.5:0.99", "--sampler", "random",
                            "--trials", "2", "--seed", "0", "-j", "1", "--runs-dir", str(user_dir / "sw"), "--quiet"])
    assert r.exit_code == 0, r.output
    sweep = json.loads(next((user_dir / "sw").glob("*/sweep.json")).read_text())
    betas = [t["values"]["optimizer.beta"] for t in sweep["trials"]]
    assert len(betas) == 2 and all(0.5 <= b <= 0.99 for b in betas) and betas[0] != betas[1]


def test_listed_and_checked(user_dir):
    runner = CliRunner()
    r = runner.invoke(app, ["optimizers", "--from", str(user_dir / "signdescent.py")])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "signdescent" in text and "beta = 0.9" in text and "adam" in text
    r = runner.invoke(app, ["optimizers", "check", str(user_dir / "signdescent.py")])
    assert r.exit_code == 0 and "all 6 checks passed" in r.output, r.output


def test_the_check_says_what_fails(tmp_path):
    """Plain numpy allocates a temporary per operator; a float64 constant array promotes float32."""
    (tmp_path / "naive.py").write_text(SIGN_DESCENT.replace('"signdescent"', '"naive"').replace(
        "        W, g, m = terms(self, W, g, m)\n        m.set(self.beta * m + (1 - self.beta) * g)\n"
        "        W.sub(self.lr * sign(m))\n",
        "        import numpy as np\n        m[...] = self.beta * m + (1 - self.beta) * g\n"
        "        W -= self.lr * np.sign(m) * np.ones(1)\n"))
    r = CliRunner().invoke(app, ["optimizers", "check", str(tmp_path / "naive.py")])
    assert r.exit_code == 1, r.output
    assert "FAIL no per-step allocation" in r.output and "ok   resume bit-identical" in r.output
    assert "2 of 6 checks failed" in r.output or "1 of 6 checks failed" in r.output


@pytest.mark.parametrize("source,reason", [
    ("def broken(:\n", "syntax error"),
    ("import no_such_module_here\n", "ModuleNotFoundError: No module named 'no_such_module_here'"),
    (SIGN_DESCENT.replace("    def step(self, W, g, m):", "    def stepp(self, W, g, m):"), "has no step method"),
    (SIGN_DESCENT.replace("def step(self, W, g, m):", "def step(self, W, g):"), "step must be step(self, W, g, m)"),
])
def test_a_broken_plugin_is_exit_2_with_file_and_reason(tmp_path, source, reason):
    (tmp_path / "signdescent.py").write_text(source)
    (tmp_path / "c.yaml").write_text(TINY_CONFIG.replace(
        "optimizer: {name: adam, lr: 0.01}", "optimizer: {name: signdescent, from: signdescent.py}"))
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml")
    problem = caught.value.problems[0]
    assert problem.where == f"{tmp_path / 'c.yaml'}:7" and str(tmp_path / "signdescent.py") in problem.message
    assert reason in problem.message
    for args in (["train", str(tmp_path / "c.yaml")], ["optimizers", "check", str(tmp_path / "signdescent.py")]):
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 2 and "Traceback" not in r.output, r.output
        assert reason in " ".join(r.output.split())


def test_unknown_names_list_the_known_ones(tmp_path):
    (tmp_path / "c.yaml").write_text(TINY_CONFIG.replace("{name: adam, lr: 0.01}", "{name: signdescnt}"))
    with pytest.raises(ConfigError, match="unknown optimizer 'signdescnt'.*valid: sgd, momentum"):
        load_config(tmp_path / "c.yaml")


def test_an_installed_package_provides_one_by_entry_point(tmp_path, monkeypatch):
    """``[project.entry-points."optlab.optimizers"] signum = "signum_pkg:SignDescent"``: a config
    names it without ``from``; a broken entry point is a config problem naming it."""
    from importlib import metadata

    import optlab.config.plugins as plugins

    (tmp_path / "signum_pkg.py").write_text(SIGN_DESCENT.replace('name = "signdescent"', 'name = "signum"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = [metadata.EntryPoint("signum", "signum_pkg:SignDescent", plugins.GROUP),
              metadata.EntryPoint("broken", "no_such_pkg:Rule", plugins.GROUP)]
    monkeypatch.setattr(plugins, "entry_points", lambda: {p.name: p for p in points})
    (tmp_path / "c.yaml").write_text(TINY_CONFIG.replace("{name: adam, lr: 0.01}", "{name: signum, beta: 0.8}"))
    config = load_config(tmp_path / "c.yaml")
    assert config.optimizer.hyper["beta"] == 0.8 and config.optimizer.from_ is None
    (tmp_path / "c.yaml").write_text(TINY_CONFIG.replace("{name: adam, lr: 0.01}", "{name: broken}"))
    with pytest.raises(ConfigError, match="entry point broken = no_such_pkg:Rule: cannot be imported"):
        load_config(tmp_path / "c.yaml")
