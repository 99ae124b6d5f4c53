"""Search strategies (optlab.training.search, optlab.training.budget): random search, random local search and the
gradient strategy, on small synthetic problems, with one budget counter: loss evaluations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from optlab.config.loading import loads_config
from optlab.engine.optimizers import SGD
from optlab.record.rundir import SEARCH_COLUMNS, WALL_CLOCK_COLUMNS, read_metrics
from optlab.training.blocks import BlockEvaluator
from optlab.training.budget import Examples, GradientStep, LossCounter
from optlab.training.run import Setup, run
from optlab.training.search import LocalSearch, RandomSearch, walk

BLOBS = """
name: hiker
seed: 3
data: {name: blobs, classes: 4, dims: 6, size: 400, val_size: 100, test_size: 100, std: 2.0}
model: {name: linear, bias: trick}
loss: hinge
search: {strategy: local, trials: 60, init_scale: 0.01, step: 0.05}
train: {dtype: float64, iterations: 20, batch_size: 50}
"""


def config(text: str = BLOBS, **overrides):
    cfg = loads_config(text)
    for dotted, value in overrides.items():
        section, key = dotted.split("__")
        setattr(getattr(cfg, section), key, value)
    return cfg


def hinge(scores: np.ndarray, y: np.ndarray) -> float:
    """The Weston-Watkins loss written out here, independently of optlab.engine.losses."""
    correct = scores[np.arange(len(y)), y][:, None]
    margins = np.maximum(0, scores - correct + 1.0)
    return float((margins.sum() - len(y)) / len(y))   # minus the correct class's own margin of 1


def problem(seed: int = 0):
    """(flat params, loss of the params) of a linear SVM with the bias trick on 4 Gaussian blobs."""
    rng = np.random.default_rng(seed)
    y = np.arange(300) % 4
    x = rng.standard_normal((4, 5))[y] * 3 + rng.standard_normal((300, 5))
    params = np.zeros(6 * 4)

    def loss(_batch=None) -> float:
        W = params.reshape(6, 4)
        return hinge(x @ W[:-1] + W[-1], y)
    return params, loss


# ---------------------------------------------------------------------------------------------
# the strategies themselves
# ---------------------------------------------------------------------------------------------
def test_local_never_accepts_an_uphill_step():
    params, loss = problem()
    trials = list(walk(LocalSearch(init_scale=1e-3, step=0.3), params, loss, 300, np.random.default_rng(1)))
    assert trials[0].step == 0 and trials[0].loss == trials[0].best   # the start, evaluated
    previous = trials[0].best
    for t in trials[1:]:
        if t.accepted:
            assert t.loss < previous and t.best == t.loss
        else:
            assert not t.loss < previous and t.best == previous
        previous = t.best
    accepted = sum(t.accepted for t in trials[1:])
    assert 10 < accepted < 290, "the step is large enough that many proposals go uphill"
    assert loss() == trials[-1].best, "the parameters left behind are the incumbent"
    assert trials[-1].best < trials[0].best / 2


def test_random_search_reports_the_minimum_of_its_trials_and_keeps_those_weights():
    params, loss = problem()
    seen = []

    def recording(batch=None) -> float:
        value = loss()
        seen.append((value, params.copy()))
        return value
    trials = list(walk(RandomSearch(scale=0.5), params, recording, 200, np.random.default_rng(2)))
    assert [t.step for t in trials] == list(range(1, 201)) and len(seen) == 200
    assert [t.loss for t in trials] == [v for v, _ in seen]
    assert [t.best for t in trials] == list(np.minimum.accumulate([v for v, _ in seen]))
    best, best_params = min(seen, key=lambda s: s[0])
    assert trials[-1].best == best
    np.testing.assert_array_equal(params, best_params)
    # each draw is scale * N(0, 1), independent of the last
    draws = np.array([p for _, p in seen])
    assert abs(draws.std() - 0.5) < 0.01 and abs(np.corrcoef(draws[:-1].ravel(), draws[1:].ravel())[0, 1]) < 0.02


def test_a_nan_candidate_is_never_accepted():
    params, loss = problem()
    calls = iter([3.0, math.nan, 2.0, math.inf, math.nan, 1.0])
    trials = list(walk(LocalSearch(1e-3, 1e-3), params, lambda _: next(calls), 5, np.random.default_rng(0)))
    assert [t.accepted for t in trials] == [True, False, True, False, False, True]
    assert [t.best for t in trials] == [3.0, 3.0, 2.0, 2.0, 2.0, 1.0]


def test_mini_batch_search_compares_candidate_and_incumbent_on_the_same_batch():
    params, _ = problem()
    log = []

    def loss(batch) -> float:
        log.append((tuple(batch), params.copy()))
        return float(np.sum(params ** 2))
    batches = iter([np.array([k, k + 1]) for k in range(0, 40, 2)])
    trials = list(walk(LocalSearch(1e-2, 1e-2), params, loss, 10, np.random.default_rng(0), batches))
    assert trials[0].step == 0 and math.isnan(trials[0].loss), "the start is only evaluated beside a candidate"
    assert len(log) == 20                                      # two evaluations per trial
    for (b_cand, p_cand), (b_inc, p_inc) in zip(log[::2], log[1::2]):
        assert b_cand == b_inc and not np.array_equal(p_cand, p_inc)


def test_same_seed_same_proposals():
    def proposals(seed):
        params, loss = problem()
        out = []
        for _ in walk(LocalSearch(1e-3, 0.1), params, lambda _: out.append(params.copy()) or loss(), 20,
                      np.random.default_rng(seed)):
            pass
        return np.array(out)
    np.testing.assert_array_equal(proposals(7), proposals(7))
    assert not np.array_equal(proposals(7), proposals(8))


# ---------------------------------------------------------------------------------------------
# the budget: loss evaluations
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def forwarded(monkeypatch):
    """Rows the run's loss function is applied to, outside the evaluations that report accuracy:
    what loss evaluations are made of, counted without optlab.training.budget's help."""
    import optlab.training.gradient_loop as loop
    import optlab.training.search as search
    import optlab.training.setup as setup

    rows, reporting = [0], [False]
    build_loss, evaluate = setup.build_loss, setup.evaluate

    def counting_build_loss(name, **options):
        loss = build_loss(name, **options)

        class Counted(type(loss)):
            def __call__(self, out, y):
                if not reporting[0]:
                    rows[0] += len(y)
                return super().__call__(out, y)
        loss.__class__ = Counted
        return loss

    def reporting_evaluate(*args, **kwargs):
        reporting[0] = True
        try:
            return evaluate(*args, **kwargs)
        finally:
            reporting[0] = False
    monkeypatch.setattr(setup, "build_loss", counting_build_loss)
    for module in (loop, search):
        monkeypatch.setattr(module, "evaluate", reporting_evaluate)
    return rows


@pytest.mark.parametrize("search, expected", [
    ({"strategy": "random", "trials": 25}, 25),
    ({"strategy": "local", "trials": 25}, 26),                     # the start, then 25 proposals
    ({"strategy": "local", "trials": 25, "batch_size": 30}, 50),   # candidate + incumbent per trial
    ({"strategy": "gradient"}, 20),                                # one per step
    ({"strategy": "gradient", "gradient": "numerical"}, 20 * (1 + 2 * 28)),
])
def test_the_budget_counter_equals_the_loss_evaluations_made(search, expected, forwarded, runs):
    cfg = config()
    for key, value in search.items():
        setattr(cfg.search, key, value)
    result = run(cfg, runs)
    s = result.summary
    assert s["loss_evals"] == expected
    assert forwarded[0] == expected * s["examples_per_eval"] == s["loss_eval_examples"], \
        "every evaluation forwards its examples once"
    m = read_metrics(result.run_dir / "metrics.csv")
    assert m["loss_evals"][-1] == expected and m["loss_evals"] == sorted(m["loss_evals"])
    assert f"loss evaluations: {expected:,}".replace(",", " ") in (result.run_dir / "results.md").read_text()


@pytest.mark.parametrize("strategy", [RandomSearch(0.3), LocalSearch(0.1, 0.05)], ids=["random", "local"])
def test_searching_in_blocks_makes_the_same_trials_as_one_candidate_at_a_time(strategy):
    """optlab.training.blocks evaluates up to 16 candidates per pass over the data; the trials must not change."""
    runs = {}
    for blocked in (False, True):
        setup = Setup.from_config(config())
        counter, data = LossCounter(setup), setup.data
        everything = Examples(data, data.train, np.float64, chunk_rows=128)
        blocks = BlockEvaluator(counter, everything) if blocked else None
        trials = list(walk(strategy, setup.model.flat_params, lambda _: counter.full(everything), 40,
                           np.random.default_rng(9), None, blocks))
        runs[blocked] = (trials, setup.model.flat_params.copy(), counter.evals)
    (one, p1, e1), (many, pm, em) = runs[False], runs[True]
    assert e1 == em == 40 + strategy.relative and [t.evals for t in many] == [t.evals for t in one]
    assert [t.accepted for t in one] == [t.accepted for t in many] and 1 < sum(t.accepted for t in one) < 39
    np.testing.assert_allclose([t.loss for t in many], [t.loss for t in one], rtol=1e-13)
    np.testing.assert_array_equal(pm, p1)


@pytest.mark.parametrize("model", ["model: {name: mlp, hidden: [7], output: sigmoid}\nloss: quadratic",
                                   "model: {name: linear, bias: trick}\nloss: cross_entropy\n"
                                   "regularization: {l2: 0.5, l1: 0.1}"])
def test_block_losses_equal_a_fresh_forward_pass_at_each_candidate(model):
    cfg = loads_config(f"data: {{name: blobs, classes: 3, dims: 4, size: 90, val_size: 10}}\n{model}\n"
                       "train: {dtype: float64, iterations: 1}")
    setup = Setup.from_config(cfg)
    counter, data, params = LossCounter(setup), setup.data, setup.model.flat_params
    everything = Examples(data, data.train, np.float64, chunk_rows=25)

    def fresh(vector):
        params[...] = vector
        return LossCounter(setup).full(everything)
    rng = np.random.default_rng(0)
    base, deltas = rng.standard_normal(params.size), 0.3 * rng.standard_normal((5, params.size))
    blocks = BlockEvaluator(counter, everything)
    blocks.set_base(None)                       # random search: the candidates are the deltas
    blocks.load(deltas)
    assert [blocks.loss(j) for j in range(5)] == pytest.approx([fresh(d) for d in deltas], rel=1e-13)
    blocks.set_base(base)                       # local search: base + delta, the base moving on accept
    assert blocks.base_loss() == pytest.approx(fresh(base), rel=1e-13)
    blocks.load(deltas)
    assert blocks.loss(0) == pytest.approx(fresh(base + deltas[0]), rel=1e-13)
    assert blocks.loss(1) == pytest.approx(fresh(base + deltas[1]), rel=1e-13)
    np.testing.assert_array_equal(blocks.accept(1), base + deltas[1])
    assert blocks.loss(2) == pytest.approx(fresh(base + deltas[1] + deltas[2]), rel=1e-13)
    assert counter.evals == 5 + 1 + 3 and counter.examples == 9 * 80


def test_chunked_and_cached_evaluation_equal_one_big_forward_pass():
    setup = Setup.from_config(config())
    data = setup.data
    everything = LossCounter(setup).full(Examples(data, data.train, np.float64))
    for chunk_rows, cache_bytes in ((7, 1 << 30), (7, 0), (1000, 0)):
        ex = Examples(data, data.train, np.float64, chunk_rows=chunk_rows, cache_bytes=cache_bytes)
        assert ex.cached == (cache_bytes > 0)
        assert LossCounter(setup).full(ex) == pytest.approx(everything, rel=1e-13)
    W = setup.model.params["fc1.W"]
    assert everything == pytest.approx(hinge(data.train.x @ W[:-1] + W[-1], data.train.y), rel=1e-13)


# ---------------------------------------------------------------------------------------------
# the gradient strategy: numerical vs analytic
# ---------------------------------------------------------------------------------------------
TANH_MLP = """
seed: 4
data: {name: spiral, classes: 3, size: 60, val_size: 10, test_size: 10}
model: {name: mlp, hidden: [5], activation: tanh, init: {name: he, bias_std: 0.1}}
loss: cross_entropy
regularization: {l2: 0.01}
search: {gradient: numerical}
train: {dtype: float64, iterations: 1, batch_size: 20}
"""


@pytest.mark.parametrize("text", [TANH_MLP, BLOBS], ids=["mlp tanh + cross-entropy + l2", "linear svm, bias trick"])
def test_numerical_and_analytic_gradients_take_the_same_first_step(text):
    steps = {}
    for method in ("analytic", "numerical"):
        setup = Setup.from_config(config(text))
        before = setup.model.flat_params.copy()
        idx = np.arange(20)
        gradient = GradientStep(setup, method)
        loss = gradient(setup.data.features(setup.data.train.x[idx], np.float64), setup.data.train.y[idx])
        SGD(lr=0.5).update(setup.model.params, setup.model.grads)
        steps[method] = (loss, setup.model.flat_params - before, gradient.evals)
    (la, da, ea), (ln, dn, en) = steps["analytic"], steps["numerical"]
    assert la == ln
    assert np.abs(dn - da).max() <= 1e-6 * np.abs(da).max()
    assert ea == 1 and en == 1 + 2 * da.size


def test_numerical_gradient_refuses_float32():
    setup = Setup.from_config(config(TANH_MLP, train__dtype="float32"))
    with pytest.raises(ValueError, match="float64"):
        GradientStep(setup, "numerical")


# ---------------------------------------------------------------------------------------------
# runs: every model, same seed same result, the run directory
# ---------------------------------------------------------------------------------------------
def _deterministic(path) -> dict:
    """The metrics without the clock, NaN as None (NaN != NaN would make equal runs differ)."""
    return {k: [None if x != x else x for x in v]
            for k, v in read_metrics(path / "metrics.csv").items() if k not in WALL_CLOCK_COLUMNS}


@pytest.mark.parametrize("strategy, batch", [("random", None), ("local", 30)])
def test_same_seed_same_result(strategy, batch, runs):
    cfg = config(search__strategy=strategy, search__batch_size=batch, search__scale=0.05)
    a, b = run(cfg, runs), run(cfg, runs)
    assert _deterministic(a.run_dir) == _deterministic(b.run_dir)
    drop = {"wall_time_s"}
    assert {k: v for k, v in a.summary.items() if k not in drop} == {k: v for k, v in b.summary.items() if k not in drop}
    cfg.seed = 4
    assert _deterministic(run(cfg, runs).run_dir)["loss"] != _deterministic(a.run_dir)["loss"]


MODELS = {
    "mlp relu + cross_entropy": ("data: {name: spiral, size: 90, val_size: 30, test_size: 30}\n"
                                 "model: {name: mlp, hidden: [8]}\nloss: cross_entropy"),
    "mlp sigmoid out + binary ce": ("data: {name: blobs, classes: 2, size: 90, val_size: 30, test_size: 30}\n"
                                    "model: {name: mlp, hidden: [4], output: sigmoid}\nloss: binary_cross_entropy"),
    "neuron + quadratic": "data: {name: single}\nmodel: {name: neuron}\nloss: quadratic",
    "linear + cross_entropy, l1": ("data: {name: blobs, size: 90, val_size: 30, test_size: 30}\n"
                                   "model: linear\nloss: cross_entropy\nregularization: {l1: 0.01}"),
}


@pytest.mark.parametrize("model", MODELS)
def test_local_search_descends_on_every_model(model, runs):
    cfg = loads_config(MODELS[model] + "\nsearch: {strategy: local, trials: 40, init_scale: 0.1, step: 0.1}\n"
                                       "train: {dtype: float64}\n")
    result = run(cfg, runs)
    m = read_metrics(result.run_dir / "metrics.csv")
    assert result.status == "completed"
    assert result.summary["best_loss"] < m["best_loss"][0]
    assert all(b <= a for a, b in zip(m["best_loss"], m["best_loss"][1:]))


def test_search_run_directory(runs):
    result = run(config(search__strategy="random", search__scale=0.05), runs)
    path = result.run_dir
    assert {"config.yaml", "meta.json", "metrics.csv", "summary.json", "loss.png", "accuracy.png",
            "results.md"} <= {p.name for p in path.iterdir()}
    m = read_metrics(path / "metrics.csv")
    assert list(m) == SEARCH_COLUMNS and m["step"] == list(range(1, 61))
    summary = json.loads((path / "summary.json").read_text())
    assert summary["strategy"] == "random" and summary["loss_evals"] == 60 and summary["examples_per_eval"] == 300
    assert summary["best_loss"] == min(m["loss"]) == m["best_loss"][-1]
    assert summary["accepted"] == sum(m["accepted"]) >= 1
    # the accuracy table is that of the best weights: the final evaluation equals the incumbent's
    assert summary["final_train_loss"] == m["train_loss"][-1]
    assert set(summary["accuracy"]) == {"train", "val", "test"} and summary["accuracy"]["test"]["final"] > 0.25
    text = (path / "results.md").read_text()
    assert "| validation |" in text and "random search, 60 trials" in text
    assert "loss evaluations: 60, each over 300 examples" in text


def test_an_all_nan_random_search_is_diverged(runs):
    result = run(config(search__strategy="random", search__scale=1e300, search__trials=5, train__dtype="float32"), runs)
    assert result.status == "diverged" and result.summary["loss_evals"] == 5
    assert json.loads((result.run_dir / "meta.json").read_text())["status"] == "diverged"


def test_a_stop_request_ends_a_search_as_interrupted_after_the_trial_in_progress(runs):
    import signal

    from optlab.training.interrupt import StopRequest

    stop = StopRequest()

    def on_step(step, total, loss):
        if step == 7:
            stop.signum = signal.SIGINT
    result = run(config(search__strategy="local"), runs, on_step=on_step, stop=stop)
    assert result.status == "interrupted" and result.summary["steps"] == 7
    assert result.summary["loss_evals"] == 8, "the start and 7 proposals"
    assert math.isnan(result.summary["accuracy"]["test"]["final"]), "a stop skips the test pass, as training does"
    m = read_metrics(result.run_dir / "metrics.csv")
    assert m["step"] == list(range(8)) and not math.isnan(m["val_acc"][-1]), "the incumbent is evaluated last"
    assert json.loads((result.run_dir / "meta.json").read_text())["status"] == "interrupted"


def test_resume_refuses_a_search_run(runs):
    from optlab.training.checkpoint import CheckpointError
    from optlab.training.run import resume

    cfg = config(search__strategy="random", search__trials=5)
    result = run(cfg, runs)
    with pytest.raises(CheckpointError, match="random search keeps no checkpoint"):
        resume(result.run_dir, cfg)


def test_compare_across_strategies_plots_against_loss_evaluations(tmp_path):
    """`optlab compare --vary search.strategy=random,local,gradient` (issue #6): one config, three
    strategies, one x-axis."""
    from typer.testing import CliRunner

    from optlab.cli import app
    from optlab.record import compare_plots
    from optlab.record.compare_stats import load_compare

    path = tmp_path / "hiker.yaml"
    path.write_text(BLOBS.replace("trials: 60", "trials: 30"))
    out = CliRunner().invoke(app, ["compare", "--vary", "search.strategy=random,local,gradient", "--config",
                                   str(path), "--workers", "1", "--runs-dir", str(tmp_path / "runs"), "-q"])
    assert out.exit_code == 0, out.output
    [compare_dir] = (tmp_path / "runs").iterdir()
    manifest, labels, trials = load_compare(compare_dir)
    assert labels == ["random", "local", "gradient"]
    assert [t[0].summary["loss_evals"] for t in trials] == [30, 31, 20]
    # #15: the axis is what each strategy really pays, examples forwarded (evaluations x their size)
    assert compare_plots.x_axis(trials) == "examples"
    for figure in (compare_plots.loss_figure(labels, trials, "t"), compare_plots.accuracy_figure(labels, trials, "t")):
        assert figure.axes[0].get_xlabel() == compare_plots.X_LABELS["examples"]
    for t in (trials[0][0], trials[2][0]):
        assert list(t.metrics["examples"]) == [e * t.summary["examples_per_eval"] for e in t.metrics["loss_evals"]]
    search_curve = figure_line(compare_plots.loss_figure(labels, trials, "t"), "local")
    assert list(search_curve) == list(trials[1][0].metrics["best_loss"])
    md = (compare_dir / "results.md").read_text()
    assert "| random | — |" in md and "| local | — |" in md      # a search has no learning rate
    # an optimizer comparison, without a search, keeps the step axis
    assert compare_plots.x_axis(trials[2:]) == "step"


def figure_line(fig, label: str) -> np.ndarray:
    [line] = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == label]
    return np.asarray(line.get_ydata())
