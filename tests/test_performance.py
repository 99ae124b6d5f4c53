"""The speed work of issue #8 changes no numbers and keeps float32 runs float32.

- Same run, same numbers: a run trained by optlab (whole-buffer optimizer updates, in-place
  layers, no first-layer input gradient, one BLAS thread) ends with exactly the parameters and
  mini-batch losses of the same run replayed with the code from before #8 (tests/reference_step.py),
  for every optimizer, in float32 and float64.
- float32 end to end: every layer output and gradient, the loss gradient, the parameters, their
  gradients, the optimizer state and the checkpoint stay float32, with every optimizer, every
  activation and both penalties.
- No hidden copies: an optimizer update allocates nothing the size of the parameters (its
  intermediates go into kept scratch arrays).
- The machinery that makes it fast: whole-buffer updates equal the per-tensor loop (and fall back
  to it when the tensors are not a model's views), checkpoint state keeps its per-tensor names,
  a run trains and evaluates on one BLAS thread (unless the user set a count), so a run alone
  computes what it computes in a compare worker.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import reference_step
from conftest import load_benchmark

from optlab.config.loading import loads_config
from optlab.engine.optimizers import build_optimizer
from optlab.record.rundir import read_metrics
from optlab.training import checkpoint
from optlab.training.run import Setup, run

HYPER = {"sgd": "{name: sgd, lr: 0.1}", "momentum": "{name: momentum, lr: 0.05}",
         "nesterov": "{name: nesterov, lr: 0.05}", "adagrad": "{name: adagrad, lr: 0.05}",
         "rmsprop": "{name: rmsprop, lr: 0.005}", "adam": "{name: adam, lr: 0.01}"}


def config_text(optimizer: str = "adam", dtype: str = "float32", activation: str = "relu", loss: str = "cross_entropy",
                l1: float = 0.0, hidden: str = "[32, 16]", extra: str = "", model_extra: str = "") -> str:
    hyper = HYPER[optimizer] if not extra else HYPER[optimizer][:-1] + f", {extra}}}"
    return f"""\
name: perf
seed: 3
data: {{name: spiral, classes: 3, size: 300, val_size: 60, test_size: 60}}
model: {{name: mlp, hidden: {hidden}, activation: {activation}, init: he{model_extra}}}
loss: {loss}
regularization: {{l2: 1.0e-3, l1: {l1}}}
optimizer: {hyper}
train: {{batch_size: 32, iterations: 40, eval_every: 15, dtype: {dtype}}}
"""


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    monkeypatch.setattr("optlab.record.run_report.render_run", lambda *args, **kwargs: None)


# ------------------------------------------------------------------------------------------------
# same run, same numbers
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("optimizer", list(HYPER))
def test_same_run_same_numbers_as_before_the_speed_work(tmp_path, optimizer, dtype):
    config = loads_config(config_text(optimizer, dtype, l1=1e-4))
    result = run(config, tmp_path)
    assert result.status == "completed"
    steps = config.train.iterations
    ref_params, ref_losses = reference_step.replay(config, steps)

    final = checkpoint.load(result.run_dir / "checkpoint.npz").params
    assert final.dtype == np.dtype(dtype)
    # Exactly equal, not close: every change is the same float operations in the same order.
    assert np.array_equal(final, np.concatenate([p.ravel() for p in ref_params.values()]))
    losses = read_metrics(result.run_dir / "metrics.csv")["loss"][1:]
    assert losses == ref_losses


@pytest.mark.parametrize("optimizer", list(HYPER))
def test_same_numbers_with_weight_decay_and_clipping(tmp_path, optimizer):
    """Decay on the weights only, before the whole-buffer rule; clipping (0.3 clips most steps)."""
    config = loads_config(config_text(optimizer, "float32", extra="weight_decay: 0.05, clip_norm: 0.3"))
    result = run(config, tmp_path)
    ref_params, ref_losses = reference_step.replay(config, config.train.iterations)
    final = checkpoint.load(result.run_dir / "checkpoint.npz").params
    assert np.array_equal(final, np.concatenate([p.ravel() for p in ref_params.values()]))
    assert read_metrics(result.run_dir / "metrics.csv")["loss"][1:] == ref_losses


@pytest.mark.parametrize("activation,loss", [("sigmoid", "quadratic"), ("tanh", "hinge")])
def test_same_numbers_with_other_activations_and_losses(tmp_path, activation, loss):
    config = loads_config(config_text("momentum", "float32", activation, loss))
    result = run(config, tmp_path)
    ref_params, ref_losses = reference_step.replay(config, config.train.iterations)
    final = checkpoint.load(result.run_dir / "checkpoint.npz").params
    assert np.array_equal(final, np.concatenate([p.ravel() for p in ref_params.values()]))
    assert read_metrics(result.run_dir / "metrics.csv")["loss"][1:] == ref_losses


# ------------------------------------------------------------------------------------------------
# float32 end to end
# ------------------------------------------------------------------------------------------------
class Float32Only(np.ndarray):
    """An array that records every numpy ufunc (operators, matmul, reductions, sqrt...) whose
    result is float64: in a float32 run, each one is a silent upcast. Results stay Float32Only,
    so everything computed from one is watched too."""

    upcasts: list[str] = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        inputs = tuple(i.view(np.ndarray) if isinstance(i, Float32Only) else i for i in inputs)
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Float32Only) else o for o in out)
        result = getattr(ufunc, method)(*inputs, **kwargs)
        for r in result if isinstance(result, tuple) else (result,):
            if np.asarray(r).dtype == np.float64:
                Float32Only.upcasts.append(f"{ufunc.__name__}.{method}")
        if out is not None:
            return out[0] if len(out) == 1 else out
        if isinstance(result, np.ndarray):
            return result.view(Float32Only)
        return result


@pytest.mark.parametrize("optimizer", list(HYPER))
@pytest.mark.parametrize("activation,loss,model_extra", [
    ("relu", "cross_entropy", ""), ("sigmoid", "quadratic", ""), ("tanh", "hinge", ""),
    ("relu", "cross_entropy", ", drop_prob: 0.2, batch_norm: true")])
def test_float32_run_stays_float32_end_to_end(tmp_path, optimizer, activation, loss, model_extra):
    config = loads_config(config_text(optimizer, "float32", activation, loss, l1=1e-4, model_extra=model_extra,
                                      extra="weight_decay: 0.01, clip_norm: 1.0"))
    setup = Setup.from_config(config)
    model = setup.model
    opt = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    opt.lr = np.float64(opt.lr)     # as a schedule computing with numpy might set it: must not upcast
    rng = np.random.default_rng(0)
    Float32Only.upcasts = []
    for _ in range(3):
        idx = rng.choice(len(setup.data.train), 32, replace=False)
        x = setup.data.features(setup.data.train.x[idx], setup.dtype)
        assert x.dtype == np.float32
        out = model.forward(x.view(Float32Only))                # every layer, watched
        value, dout = setup.loss_fn(out, setup.data.train.y[idx])
        assert out.dtype == dout.dtype == np.float32
        model.backward(dout)
        setup.penalty.add_grad(model.params, model.grads, model.weight_names)
        # the optimizer's step bodies on watched views (a plain dict: the per-tensor path runs the
        # same bodies as the whole-buffer path)
        opt.update({k: v.view(Float32Only) for k, v in model.params.items()},
                   {k: v.view(Float32Only) for k, v in model.grads.items()}, model.weight_names)
    assert Float32Only.upcasts == []
    assert model.flat_params.dtype == model.flat_grads.dtype == model.flat_buffers.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.params.values())
    assert all(g.dtype == np.float32 for g in model.grads.values())
    state = opt.state_dict()
    assert len(state) == 1 + len(opt.slots) * len(model.params)
    assert all(v.dtype == np.float32 for k, v in state.items() if k != "t"), {k: v.dtype for k, v in state.items()}

    result = run(config, tmp_path)          # and through the real loop (whole buffers), into the checkpoint
    ckpt = checkpoint.load(result.run_dir / "checkpoint.npz")
    assert ckpt.params.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in ckpt.optimizer.items() if k != "t")
    assert type(build_optimizer(config.optimizer.name, **config.optimizer.hyper).lr) is float


def test_the_upcast_detector_detects():
    a = np.ones(3, np.float32).view(Float32Only)
    Float32Only.upcasts = []
    a * np.float64(2.0)
    np.sqrt(a)
    assert Float32Only.upcasts == ["multiply.__call__"]


# ------------------------------------------------------------------------------------------------
# whole-buffer updates
# ------------------------------------------------------------------------------------------------
def trained_copies(optimizer: str, dtype: str = "float32"):
    config = loads_config(config_text(optimizer, dtype))
    setup = Setup.from_config(config)
    rng = np.random.default_rng(1)
    idx = rng.choice(len(setup.data.train), 32, replace=False)
    x = setup.data.features(setup.data.train.x[idx], setup.dtype)
    return config, setup, x, setup.data.train.y[idx]


@pytest.mark.parametrize("optimizer", list(HYPER))
def test_whole_buffer_update_equals_the_per_tensor_loop(optimizer):
    config, setup, x, y = trained_copies(optimizer)
    model = setup.model
    plain = {name: value.copy() for name, value in model.params.items()}     # a plain dict: per-tensor path
    whole, per_tensor = build_optimizer(config.optimizer.name, **config.optimizer.hyper), build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    for _ in range(4):
        setup.objective(x, y)
        grads = {name: g.copy() for name, g in model.grads.items()}
        # the plain copy gets the gradient the model had at the same point of its own trajectory
        per_tensor.update(plain, grads)
        whole.update(model.params, model.grads)
        assert whole._whole is not None, "the model's views should take the whole-buffer path"
    for name in plain:
        assert np.array_equal(model.params[name], plain[name]), name
    a, b = whole.state_dict(), per_tensor.state_dict()
    assert a.keys() == b.keys()        # the same per-tensor names as before: "m/fc1.W"
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_whole_buffer_state_survives_a_checkpoint_round_trip():
    config, setup, x, y = trained_copies("adam")
    model = setup.model
    opt = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    for _ in range(2):
        setup.objective(x, y)
        opt.update(model.params, model.grads)
    saved_params, saved_state = model.flat_params.copy(), opt.state_dict()
    setup.objective(x, y)
    opt.update(model.params, model.grads)
    expected = model.flat_params.copy()

    model.flat_params[...] = saved_params
    restored = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    restored.load_state_dict(saved_state)
    setup.objective(x, y)
    restored.update(model.params, model.grads)
    assert np.array_equal(model.flat_params, expected)
    # the restored per-tensor arrays became views into the whole-buffer state, values kept
    assert restored.state["fc1.W"]["m"].base is restored._whole[1]["m"]


def test_tensors_that_are_not_views_take_the_per_tensor_path():
    config, setup, x, y = trained_copies("momentum")
    model = setup.model
    assert model.params.whole() is model.flat_params
    clone = copy.deepcopy(model)                     # copies: no longer views into clone.flat_params
    assert clone.params.whole() is None
    opt = build_optimizer(config.optimizer.name, **config.optimizer.hyper)
    setup.objective(x, y)
    before = clone.params["fc1.W"].copy()
    opt.update(clone.params, model.grads)
    assert opt._whole is None
    assert not np.array_equal(clone.params["fc1.W"], before), "the named arrays themselves were updated"


def test_first_layer_skips_only_the_input_gradient():
    config, setup, x, y = trained_copies("sgd", "float64")
    model, first = setup.model, setup.model.layers[0][1]
    dout = setup.loss_fn(model.forward(x), y)[1]
    assert model.backward(dout) is None
    grads = {k: v.copy() for k, v in first.grads.items()}
    for _, layer in reversed(model.layers[1:]):
        dout = layer.backward(dout)
    dx = first.backward(dout)
    assert dx.shape == x.shape
    for k in grads:
        assert np.array_equal(first.grads[k], grads[k])


# ------------------------------------------------------------------------------------------------
# threads
# ------------------------------------------------------------------------------------------------
def blas_threads() -> int:
    from threadpoolctl import threadpool_info

    return max(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


@pytest.fixture
def no_thread_settings(monkeypatch):
    from optlab.training.threads import USER_SETTINGS

    for name in USER_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def spy_threads(monkeypatch) -> dict[str, set[int]]:
    """The BLAS thread counts in force during training steps and evaluations of the next run."""
    from optlab.training import gradient_loop, search
    from optlab.training.setup import evaluate

    seen: dict[str, set[int]] = {"step": set(), "eval": set()}
    objective = Setup.objective

    def spy_objective(self, x, y):
        seen["step"].add(blas_threads())
        return objective(self, x, y)

    def spy_evaluate(*args):
        seen["eval"].add(blas_threads())
        return evaluate(*args)

    monkeypatch.setattr(Setup, "objective", spy_objective)
    for module in (gradient_loop, search):
        monkeypatch.setattr(module, "evaluate", spy_evaluate)
    return seen


def test_a_run_trains_and_evaluates_on_one_thread(tmp_path, monkeypatch, no_thread_settings):
    from threadpoolctl import threadpool_limits

    seen = spy_threads(monkeypatch)
    with threadpool_limits(limits=2, user_api="blas"):
        outer = blas_threads()
        run(loads_config(config_text("sgd")), tmp_path)
        assert blas_threads() == outer, "the count is restored when the run ends"
    assert seen == {"step": {1}, "eval": {1}}


def test_a_users_thread_setting_is_left_alone(tmp_path, monkeypatch, no_thread_settings):
    from threadpoolctl import threadpool_limits

    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    seen = spy_threads(monkeypatch)
    with threadpool_limits(limits=2, user_api="blas"):
        outer = blas_threads()                      # 2, or 1 on a machine with one core
        run(loads_config(config_text("sgd")), tmp_path)
    assert seen == {"step": {outer}, "eval": {outer}}


BIG = """name: big
seed: 0
data: {name: blobs, classes: 10, dims: 784, size: 1200, val_size: 200, test_size: 100}
model: {name: mlp, hidden: [100, 100]}
loss: cross_entropy
optimizer: {name: adam, lr: 0.001}
train: {batch_size: 128, iterations: 12, eval_every: 6, dtype: float32}
"""


def test_a_run_alone_equals_the_run_in_a_one_thread_worker(tmp_path, no_thread_settings):
    """float32 products of these shapes round differently on one and on two OpenBLAS threads;
    a compare worker runs one thread, so a run alone must too (docs/conventions.md, Randomness)."""
    from threadpoolctl import threadpool_limits

    config = loads_config(BIG)
    with threadpool_limits(limits=2, user_api="blas"):     # the library default on a 2-core machine
        alone = run(config, tmp_path / "alone")
    with threadpool_limits(limits=1, user_api="blas"):     # what optlab.studies.executor sets for its trials
        worker = run(config, tmp_path / "worker")
    a, b = (read_metrics(r.run_dir / "metrics.csv") for r in (alone, worker))
    a.pop("time"), b.pop("time")
    assert {k: [repr(v) for v in col] for k, col in a.items()} == {k: [repr(v) for v in col] for k, col in b.items()}
    assert np.array_equal(checkpoint.load(alone.run_dir / "checkpoint.npz").params,
                          checkpoint.load(worker.run_dir / "checkpoint.npz").params)


# ------------------------------------------------------------------------------------------------
# the benchmark's own arithmetic and report
# ------------------------------------------------------------------------------------------------
def test_bench_report_says_when_pytorch_is_missing():
    from rich.console import Console

    bench = load_benchmark("bench")

    step = bench.stats([0.002, 0.001, 0.003])
    assert step == {"median": 0.002, "min": 0.001, "n": 3}
    assert math.isnan(bench.stats([])["median"])
    times = {f"optlab/{o}/1": step for o in bench.OPTIMIZERS} | {"floor/1": bench.stats([0.001])}
    results = {"machine": {"cpu": "test", "cores": 2, "python": "3", "numpy": "2", "blas": "b", "torch": None,
                           "optlab": "0"},
               "load_before": [0, 0, 0], "load_after": [0, 0, 0],
               "mlp": {"times": times, "threads": [1], "rounds": 1, "steps_per_run": 3, "optlab_choice": 1}}
    console = Console(record=True, width=200)
    bench.render(results, console)
    text = console.export_text()
    assert "PyTorch not installed" in text and "not installed" in text.split("adam")[1]
    assert "2.00×" in text                     # optlab / floor: 2 ms against 1 ms
    json.dumps(results)


def test_bench_floor_and_batches():
    bench = load_benchmark("bench")

    batches = list(bench.batches(1000, 12, seed=0))
    assert len(batches) == 12 and all(len(b) == bench.BATCH for b in batches)
    assert len(np.unique(np.concatenate(batches[:7]))) == 7 * bench.BATCH      # no repeats within an epoch
    x8 = np.random.default_rng(0).integers(0, 256, (1000, 784), dtype=np.uint8)
    times = bench.floor_steps(x8, bench.WARMUP + 3)
    assert set(times) == {"step", "gather", "products"}
    assert len(times["step"]) == 3 and all(t > 0 for t in times["step"])
    assert np.allclose(times["step"], np.add(times["gather"], times["products"]))



def test_everyday_splits_a_train_process_into_parts_that_add_up_to_it():
    """benchmarks/everyday.py part 1's table of where a train process spends its time."""
    everyday = load_benchmark("everyday")
    marks = {"cli": 0.05, "render_start": 0.70, "matplotlib": 0.25, "savefig": 0.50, "render_end": 1.50, "end": 1.51}
    parts = everyday.breakdown(1.55, marks, 0.25)
    assert parts.pop("whole process") == 1.55
    assert sum(parts.values()) == pytest.approx(1.55)
    assert parts["training"] == 0.25 and parts["Python start-up and exit"] == pytest.approx(0.04)
    assert parts["building the figures, report.html, results.md"] == pytest.approx(0.8 - 0.25 - 0.5)
    assert min(parts.values()) > 0

def test_help_renders_without_the_heavy_rich_modules():
    """optlab --help in plain (click) form: typer's rich help would import rich's Markdown,
    traceback and syntax modules (~130 ms, half the start-up); tests/test_cli_train.py checks
    numpy, matplotlib and pydantic."""
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['optlab', '--help']; import optlab.cli as c\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('typer.rich_utils', 'rich.markdown', 'rich.traceback', 'numpy') if m in sys.modules],"
            " file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stderr.strip() == "[]"
    assert "Commands:" in proc.stdout and "exit 1 if any fails." in proc.stdout   # whole summaries


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("optimizer", list(HYPER))
def test_an_update_allocates_no_array_the_size_of_the_parameters(optimizer, weight_decay):
    """Every intermediate of a rule goes into the optimizer's kept scratch arrays (module
    docstring of optlab.engine.optimizers): after the first update, an update allocates nothing near
    the size of one parameter vector (numpy reports its allocations to tracemalloc)."""
    import tracemalloc

    setup = Setup.from_config(loads_config(config_text(optimizer, hidden="[256, 256]")))   # 67 000 parameters
    model = setup.model
    section = setup_config_optimizer(optimizer, weight_decay)
    opt = build_optimizer(section.name, **section.hyper)
    model.grads.flat[...] = np.random.default_rng(0).standard_normal(model.grads.flat.size).astype(np.float32)
    opt.update(model.params, model.grads, model.weight_names)        # state and scratch are made here
    tracemalloc.start()
    try:
        opt.update(model.params, model.grads, model.weight_names)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < model.params.flat.nbytes // 4, f"{peak} bytes allocated by one update"


def setup_config_optimizer(optimizer: str, weight_decay: float):
    return loads_config(config_text(optimizer, extra=f"weight_decay: {weight_decay}")).optimizer
