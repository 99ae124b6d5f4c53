"""The newer rules (optlab.engine.optimizers: nadam, radam, lion, ...) as optlab runs them: state round trip, dtype, one name
and default everywhere, Muon's per-matrix path, Schedule-Free's evaluation at x, and L-BFGS as a
full-batch run (its line search counted, checkpoint and resume bit-identical, mini-batches refused).
The references are tests/test_rules_reference.py."""

from __future__ import annotations

import signal

import numpy as np
import pytest
from conftest import TINY_CONFIG, run_numbers
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import load_config
from optlab.engine.models import TensorViews
from optlab.engine.optimizers import build_optimizer, builtin, lookup
from optlab.engine.optimizers.muon import Muon
from optlab.training import checkpoint
from optlab.training.interrupt import StopRequest
from optlab.training.run import resume, run

NEW = ["adamw", "nadam", "radam", "lion", "sgd_schedulefree", "adamw_schedulefree", "muon", "lbfgs"]
GRADIENT_RULES = NEW[:-1]


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


@pytest.mark.parametrize("name", NEW)
def test_registered_with_defaults_and_sources(name):
    """Each rule is a built-in of the registry, every hyper-parameter with its source, and its
    config section takes the defaults."""
    cls = builtin()[name]
    assert all(h.source for h in cls.hypers.values() if h.default is not None), cls.hypers
    assert build_optimizer(name).hyper == cls.defaults()


def _views(shapes, values):
    """params and grads as a model lays them out: views into one buffer each, one layout object."""
    size = sum(int(np.prod(s)) for s in shapes.values())
    params, grads = TensorViews(np.zeros(size)), TensorViews(np.zeros(size))
    start = 0
    for name, shape in shapes.items():
        n = int(np.prod(shape))
        params.add_view(name, slice(start, start + n), shape)[...] = values[name]
        grads.add_view(name, slice(start, start + n), shape)
        start += n
    grads.spans = params.spans
    return params, grads


@pytest.mark.parametrize("name", GRADIENT_RULES)
def test_whole_buffer_round_trip_and_per_tensor_give_the_same_bits(name):
    """The model's buffers (one step on all tensors, or Muon's per-matrix loop) against plain dicts
    (per tensor); a state_dict taken at step 3 continues identically."""
    rng = np.random.default_rng(0)
    shapes = {"W": (4, 3), "b": (3,)}
    init = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = [{k: rng.standard_normal(s) for k, s in shapes.items()} for _ in range(6)]
    cls = lookup(name)
    plain, whole = {k: v.copy() for k, v in init.items()}, _views(shapes, init)
    a, b = cls(weight_decay=0.1), cls(weight_decay=0.1)
    for i, g in enumerate(grads):
        a.update(plain, {k: v.copy() for k, v in g.items()}, ["W"])
        for k in g:
            whole[1][k][...] = g[k]
        b.update(whole[0], whole[1], ["W"])
        if i == 2:
            resumed = cls(weight_decay=0.1)
            resumed.load_state_dict(a.state_dict())
            copy = {k: v.copy() for k, v in plain.items()}
        elif i > 2:
            resumed.update(copy, {k: v.copy() for k, v in g.items()}, ["W"])
    for k in shapes:
        np.testing.assert_array_equal(plain[k], whole[0][k])
        np.testing.assert_array_equal(plain[k], copy[k])
        assert np.isfinite(plain[k]).all()


@pytest.mark.parametrize("name", GRADIENT_RULES)
def test_float32_stays_float32(name):
    opt = lookup(name)()
    W = np.ones((3, 2), np.float32)
    opt.update({"W": W}, {"W": np.full((3, 2), 0.5, np.float32)})
    assert W.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state_dict().items() if "/" in k)


def test_muon_orthogonalises_each_matrix_and_adamw_the_rest():
    rng = np.random.default_rng(1)
    opt = Muon()
    for shape in ((8, 3), (3, 8), (5, 5)):
        G = rng.standard_normal(shape)
        s = np.linalg.svd(opt.newton_schulz(G), compute_uv=False)
        assert 0.6 < s.min() and s.max() < 1.3, s       # Jordan's quintic: singular values near 1, not exactly
    seen = []
    opt.step = lambda W, g, **state: seen.append(W.shape)
    params, grads = _views({"W": (4, 3), "b": (3,)}, {"W": np.ones((4, 3)), "b": np.ones(3)})
    opt.update(params, grads)
    assert seen == [(4, 3), (3,)]        # one matrix at a time, not the model's flat buffer


def _config(tmp_path, optimizer, *overrides):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG.replace("optimizer: {name: adam, lr: 0.01}", f"optimizer: {optimizer}"))
    return load_config(path, list(overrides))


def test_schedule_free_evaluates_and_checkpoints_at_x(tmp_path):
    config = _config(tmp_path, "{name: adamw_schedulefree, lr: 0.01}")
    result = run(config, tmp_path / "runs")
    ckpt = checkpoint.load(result.run_dir / "checkpoint.npz")
    x = np.concatenate([ckpt.optimizer[f"x/{n}"].ravel() for n in ("fc1.W", "fc1.b", "fc2.W", "fc2.b")])
    z = np.concatenate([ckpt.optimizer[f"z/{n}"].ravel() for n in ("fc1.W", "fc1.b", "fc2.W", "fc2.b")])
    np.testing.assert_array_equal(ckpt.params, x)        # the checkpoint's weights are x, not y
    assert not np.array_equal(x, 0.9 * x + 0.1 * z)
    # the last validation accuracy is that of the checkpoint's weights (x)
    from optlab.training.setup import build_setup, evaluate
    setup = build_setup(config)
    setup.model.flat_params[...] = ckpt.params
    _, acc = evaluate(setup.model, setup.loss_fn, setup.penalty, setup.data, setup.data.val, setup.dtype)
    assert acc == result.summary["accuracy"]["val"]["final"]


@pytest.mark.parametrize("line_search", ["strong_wolfe", "none"])
def test_lbfgs_full_batch_counts_its_line_search_and_resumes_bit_identically(tmp_path, line_search):
    optimizer = f"{{name: lbfgs, line_search: {25 if line_search == 'strong_wolfe' else 0}, " \
                f"lr: {5 if line_search == 'strong_wolfe' else 0.1}}}"
    config = _config(tmp_path, optimizer, "train.batch_size=90", "train.epochs=12")
    full = run(config, tmp_path / "runs")
    s = full.summary
    assert s["status"] == "completed" and s["steps"] == 12 and s["examples_per_eval"] == 90
    assert s["loss_eval_examples"] == 90 * s["loss_evals"]
    if line_search == "strong_wolfe":
        assert s["loss_evals"] > 12 + 1           # lr 5 overshoots: the line search evaluates more, counted
    else:
        assert s["loss_evals"] == 12 + 1          # one per step, and the first point's
    assert s["final_train_loss"] < 0.8

    stop = StopRequest()
    part = run(config, tmp_path / "runs", stop=stop,
               on_step=lambda step, total, loss: step == 5 and stop.request(signal.SIGINT))
    assert part.status == "interrupted" and part.summary["steps"] == 5
    done = resume(part.run_dir, config)
    assert run_numbers(done.run_dir) == run_numbers(full.run_dir)
    a, b = (checkpoint.load(r.run_dir / "checkpoint.npz") for r in (full, done))
    np.testing.assert_array_equal(a.params, b.params)
    assert a.optimizer.keys() == b.optimizer.keys()
    for key in a.optimizer:
        np.testing.assert_array_equal(a.optimizer[key], b.optimizer[key])


def test_a_converged_lbfgs_run_ends_on_an_evaluation(tmp_path):
    """L-BFGS stops between evaluation steps when it converges: its last step is evaluated, so the
    summary's final training loss and accuracy are those of the weights it stopped at."""
    from optlab.record.rundir import read_metrics
    config = _config(tmp_path, "{name: lbfgs, tolerance_grad: 0.05}", "train.batch_size=90", "train.epochs=60",
                     "train.eval_every=25")
    s = run(config, tmp_path / "runs").summary
    assert s["converged"] == "gradient" and s["steps"] % 25 and s["steps"] < 60, s
    m = read_metrics(next((tmp_path / "runs").iterdir()) / "metrics.csv")
    assert m["step"][-1] == s["steps"] and np.isfinite(m["train_loss"][-1])
    assert s["final_train_loss"] == m["train_loss"][-1]


def test_lbfgs_passes_every_conformance_check():
    """Its (s, y) pairs in ring buffers, the two-loop recursion and the line search's gradients in
    kept arrays: after the first step, a step allocates nothing of the parameters' size."""
    from optlab.engine.optimizers.conformance import conformance
    failed = [c for c in conformance(lookup("lbfgs")) if not c.ok]
    assert not failed, failed


def test_mini_batch_lbfgs_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_CONFIG.replace("optimizer: {name: adam, lr: 0.01}", "optimizer: lbfgs"))
    result = CliRunner().invoke(app, ["train", str(path), "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "full-batch" in result.output and "train.batch_size" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", GRADIENT_RULES)
def test_an_update_allocates_no_array_the_size_of_the_parameters(tmp_path, name):
    """As tests/test_performance.py holds the DLFS rules to: after the first update (state, scratch
    and Muon's Newton-Schulz work arrays made), an update allocates nothing near a parameter
    vector's size. Muon's matrices are 256 x 256 here, its largest work array one matrix."""
    import tracemalloc

    from optlab.training.setup import Setup
    config = _config(tmp_path, f"{{name: {name}, weight_decay: 0.01}}", "model.hidden=[256, 256]")
    model = Setup.from_config(config).model
    opt = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    model.grads.flat[...] = np.random.default_rng(0).standard_normal(model.grads.flat.size)
    opt.update(model.params, model.grads, model.weight_names)
    tracemalloc.start()
    try:
        opt.update(model.params, model.grads, model.weight_names)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < model.params.flat.nbytes // 4, f"{peak} bytes allocated by one update"


def test_tune_lr_searches_each_rule_around_its_own_rate():
    """`optlab compare lion adam --config quickstart --tune lr --seeds 3`, planned (nothing trained):
    Lion's 9 rates are centred on its default 1e-4, Adam's on the recipe's 0.01; --grid gives one grid."""
    from optlab.config.recipes import resolve
    from optlab.studies.compare import make_plan, rates_of
    from optlab.studies.variants import build_variants

    base, varied, variants = build_variants(resolve("quickstart").path, ["lion", "adam"])
    plan = make_plan(variants, base, varied, seeds=3, tune="lr")
    lion, adam = (rates_of(plan, v.config) for v in plan.variants)
    assert len(lion) == len(adam) == 9
    assert lion[4] == pytest.approx(1e-4) and lion[0] == pytest.approx(1e-6) and lion[-1] == pytest.approx(1e-2)
    assert adam[4] == pytest.approx(0.01)
    fixed = make_plan(variants, base, varied, seeds=3, tune="lr", grid="1e-4:1:9")
    assert rates_of(fixed, plan.variants[0].config) == rates_of(fixed, plan.variants[1].config)
