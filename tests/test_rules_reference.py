"""The newer rules (optlab.engine.optimizers: nadam, radam, lion, ...) against their reference implementations, in float64: 100
steps of a small two-layer network, parameters compared after every step (relative 1e-10).

References: torch.optim.AdamW, NAdam, RAdam, Muon (Newton-Schulz in float64 instead of bfloat16), AdamW
(Muon's other tensors), LBFGS (both line_search_fn settings); the ``schedulefree`` package's
reference classes; the ``lion-pytorch`` package. They are not in the ``test`` extra: PyPI's Linux
torch wheel pulls several GB of CUDA libraries. Install the CPU wheel and the two packages with
``pip install torch --index-url https://download.pytorch.org/whl/cpu && pip install schedulefree
lion-pytorch`` (docs/optimizers.md); without them these tests skip and say so.
"""

from __future__ import annotations

import numpy as np
import pytest

from optlab.engine.optimizers import lookup

torch = pytest.importorskip("torch", reason="torch (CPU) is the reference: see this module's docstring")

STEPS = 100
TOL = 1e-10
SHAPES = {"fc1.W": (5, 7), "fc1.b": (7,), "fc2.W": (7, 3), "fc2.b": (3,)}
WEIGHTS = ("fc1.W", "fc2.W")


@pytest.fixture(autouse=True)
def _float64():
    # torch keeps scalar state (NAdam's mu_product, step counts) in the default dtype
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _problem(seed: int = 0):
    """Data and initial weights of a tanh network 5 -> 7 -> 3 with squared error on 16 examples."""
    rng = np.random.default_rng(seed)
    X, T = rng.normal(size=(16, 5)), rng.normal(size=(16, 3))
    init = {name: rng.normal(size=shape) * (0.5 if name.endswith("W") else 0.1) for name, shape in SHAPES.items()}
    return X, T, init


def _loss_and_grads(p, X, T):
    """0.5 * mean over examples of ||tanh(X W1 + b1) W2 + b2 - T||^2 and its gradient, by hand."""
    h = np.tanh(X @ p["fc1.W"] + p["fc1.b"])          # (16, 7)
    err = h @ p["fc2.W"] + p["fc2.b"] - T             # (16, 3)
    n = len(X)
    dout = err / n
    dh = (dout @ p["fc2.W"].T) * (1 - h * h)
    grads = {"fc1.W": X.T @ dh, "fc1.b": dh.sum(0), "fc2.W": h.T @ dout, "fc2.b": dout.sum(0)}
    return 0.5 * float((err * err).sum()) / n, grads


def _torch_loss(tp, X, T, transposed=()):
    W1 = tp["fc1.W"].T if "fc1.W" in transposed else tp["fc1.W"]
    W2 = tp["fc2.W"].T if "fc2.W" in transposed else tp["fc2.W"]
    h = torch.tanh(torch.as_tensor(X) @ W1 + tp["fc1.b"])
    err = h @ W2 + tp["fc2.b"] - torch.as_tensor(T)
    return 0.5 * (err * err).sum() / len(X)


def _torch_params(init, transposed=()):
    return {name: torch.tensor(value.T.copy() if name in transposed else value, requires_grad=True)
            for name, value in init.items()}


def _as_numpy(tp, transposed=()):
    return {name: (t.detach().numpy().T if name in transposed else t.detach().numpy()).copy() for name, t in tp.items()}


def _assert_close(mine, ref, step):
    for name in mine:
        scale = max(np.abs(ref[name]).max(), 1e-300)
        err = np.abs(mine[name] - ref[name]).max() / scale
        assert err <= TOL, f"step {step}, {name}: relative difference {err:.3g}"


def _run_both(name, hyper, make_reference, transposed=(), train_hook=None):
    """Our rule and the reference side by side for STEPS steps, compared after every step."""
    X, T, init = _problem()
    mine = {k: v.copy() for k, v in init.items()}
    opt = lookup(name)(**hyper)
    tp = _torch_params(init, transposed)
    ref_opts = make_reference(tp)
    for step in range(1, STEPS + 1):
        _, grads = _loss_and_grads(mine, X, T)
        opt.update(mine, grads, WEIGHTS)
        for o in ref_opts:
            o.zero_grad()
        _torch_loss(tp, X, T, transposed).backward()
        for o in ref_opts:
            o.step()
        _assert_close(mine, _as_numpy(tp, transposed), step)
    return opt, mine, ref_opts, tp


def _groups(tp, wd):
    return [{"params": [tp[n] for n in WEIGHTS], "weight_decay": wd},
            {"params": [tp[n] for n in tp if n not in WEIGHTS], "weight_decay": 0.0}]


def test_adamw_matches_torch():
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    _run_both("adamw", hyper, lambda tp: [torch.optim.AdamW(_groups(tp, 0.1), lr=0.01)])


def test_nadam_matches_torch():
    hyper = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "momentum_decay": 0.004, "weight_decay": 0.1}
    _run_both("nadam", hyper, lambda tp: [torch.optim.NAdam(_groups(tp, 0.1), lr=0.01, momentum_decay=0.004,
                                                            decoupled_weight_decay=True)])


def test_radam_matches_torch_before_and_after_the_rectification_threshold():
    # rho_t > 5 from step 6 on with beta2 = 0.999: both branches of the rule are taken
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    _run_both("radam", hyper, lambda tp: [torch.optim.RAdam(_groups(tp, 0.1), lr=0.01, decoupled_weight_decay=True)])


def test_lion_matches_lion_pytorch_step_by_step():
    """Each step from the same weights and momentum: a coordinate whose interpolated momentum is
    within rounding of zero may take a different sign, and a trajectory would amplify that."""
    lion_pytorch = pytest.importorskip("lion_pytorch", reason="the lion-pytorch package is the reference")
    X, T, init = _problem()
    mine = {k: v.copy() for k, v in init.items()}
    opt = lookup("lion")(lr=0.003, beta1=0.9, beta2=0.99, weight_decay=0.5)
    for step in range(1, STEPS + 1):
        tp = _torch_params(mine)
        ref = lion_pytorch.Lion(_groups(tp, 0.5), lr=0.003, betas=(0.9, 0.99))
        for name, p in tp.items():
            if name in opt.state:
                ref.state[p]["exp_avg"] = torch.tensor(opt.state[name]["m"])
        _, grads = _loss_and_grads(mine, X, T)
        opt.update(mine, grads, WEIGHTS)
        _torch_loss(tp, X, T).backward()
        ref.step()
        _assert_close(mine, _as_numpy(tp), step)
        _assert_close({n: opt.state[n]["m"] for n in tp}, {n: ref.state[p]["exp_avg"].numpy() for n, p in tp.items()},
                      step)


@pytest.mark.parametrize("warmup", [0, 10])
def test_schedule_free_sgd_matches_the_reference_at_y_and_x(warmup):
    schedulefree = pytest.importorskip("schedulefree", reason="the schedulefree package is the reference")
    hyper = {"lr": 0.5, "momentum": 0.9, "warmup_steps": warmup, "r": 0.5, "weight_lr_power": 2.0,
             "weight_decay": 0.01}

    def reference(tp):
        # its weight_decay is an L2 term at y on the gradient; ours decays z at y: the same step
        return [schedulefree.SGDScheduleFreeReference(_groups(tp, 0.01), lr=0.5, momentum=0.9, warmup_steps=warmup,
                                                      r=0.5, weight_lr_power=2.0)]
    _check_schedule_free("sgd_schedulefree", hyper, reference)


@pytest.mark.parametrize("warmup", [0, 10])
def test_schedule_free_adamw_matches_the_reference_at_y_and_x(warmup):
    schedulefree = pytest.importorskip("schedulefree", reason="the schedulefree package is the reference")
    hyper = {"lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "warmup_steps": warmup, "r": 0.0,
             "weight_lr_power": 2.0, "weight_decay": 0.1}

    def reference(tp):
        ref = schedulefree.AdamWScheduleFreeReference(_groups(tp, 0.1), lr=0.01, warmup_steps=warmup)
        ref.train()
        return [ref]
    _check_schedule_free("adamw_schedulefree", hyper, reference)


def _check_schedule_free(name, hyper, reference):
    opt, mine, (ref,), tp = _run_both(name, hyper, reference)       # training weights y
    y = {k: v.copy() for k, v in mine.items()}
    with opt.evaluation(mine) as evaluated:
        ref.eval()                                                   # the reference's weights become x
        _assert_close(evaluated, _as_numpy(tp), "eval")
        assert not all(np.array_equal(evaluated[k], y[k]) for k in y)    # x is not y
    for k in y:                                                      # back to y, bit for bit
        np.testing.assert_array_equal(mine[k], y[k])


def _ns_float64(grad, ns_coefficients, ns_steps, eps):
    """torch.optim._muon._zeropower_via_newtonschulz without its cast to bfloat16."""
    a, b, c = ns_coefficients
    X = grad.clone()
    if grad.size(0) > grad.size(1):
        X = X.T
    X = X / X.norm().clamp(min=eps)
    for _ in range(ns_steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)
        X = torch.addmm(X, B, X, beta=a)
    return X.T if grad.size(0) > grad.size(1) else X


def test_muon_matches_torch_with_newton_schulz_in_float64(monkeypatch):
    muon_module = pytest.importorskip("torch.optim._muon", reason="torch.optim.Muon needs PyTorch >= 2.9")
    monkeypatch.setattr(muon_module, "_zeropower_via_newtonschulz", _ns_float64)
    hyper = {"lr": 0.02, "momentum": 0.95, "adam_lr": 0.003, "beta1": 0.9, "beta2": 0.95, "eps": 1e-10,
             "weight_decay": 0.1}

    def reference(tp):
        # torch's matrices are (fan_out, fan_in), optlab's (fan_in, fan_out): W.T, so that
        # torch's sqrt(max(1, A / B)) is sqrt(max(1, fan_out / fan_in)) for both
        return [torch.optim.Muon([tp[n] for n in WEIGHTS], lr=0.02, momentum=0.95, nesterov=True, weight_decay=0.1),
                torch.optim.AdamW([tp[n] for n in tp if n not in WEIGHTS], lr=0.003, betas=(0.9, 0.95), eps=1e-10,
                                  weight_decay=0.0)]
    _run_both("muon", hyper, reference, transposed=WEIGHTS)


def _one_buffer(x, g):
    """x and g as a model hands them over: one buffer each, one layout (L-BFGS works on the vector)."""
    from optlab.engine.models import TensorViews
    params, grads = TensorViews(x), TensorViews(g)
    params.add_view("x", slice(0, x.size), x.shape)
    grads.add_view("x", slice(0, g.size), g.shape)
    grads.spans = params.spans
    return params, grads


def _flat_problem(seed):
    X, T, init = _problem(seed)
    names = list(SHAPES)
    sizes = [int(np.prod(SHAPES[n])) for n in names]
    x = np.concatenate([init[n].ravel() for n in names])
    g = np.empty_like(x)
    evals = [0]

    def closure():
        evals[0] += 1
        parts = dict(zip(names, np.split(x, np.cumsum(sizes)[:-1])))
        loss, grads = _loss_and_grads({n: parts[n].reshape(SHAPES[n]) for n in names}, X, T)
        g[...] = np.concatenate([grads[n].ravel() for n in names])
        return loss

    def torch_loss(xt):
        parts = dict(zip(names, torch.split(xt, sizes)))
        return _torch_loss({n: parts[n].reshape(SHAPES[n]) for n in names}, X, T)
    return x, g, closure, evals, torch_loss


def _lbfgs(line_search, lr):
    return lookup("lbfgs")(lr=lr, history_size=10, tolerance_grad=0.0, tolerance_change=0.0,
                                    line_search=25 if line_search == "strong_wolfe" else 0)


def _torch_lbfgs(xt, line_search, lr, iterations):
    return torch.optim.LBFGS([xt], lr=lr, max_iter=iterations, max_eval=10 ** 6, tolerance_grad=0.0,
                             tolerance_change=0.0, history_size=10,
                             line_search_fn=None if line_search == "none" else line_search)


def test_lbfgs_without_line_search_matches_torch_over_100_iterations():
    """Ours one iteration per step, torch's 100 in one call; the same weights at the end, and one
    loss evaluation more (torch leaves the last point's to its next call, ours evaluates it)."""
    x, g, closure, evals, torch_loss = _flat_problem(1)
    xt = torch.tensor(x, requires_grad=True)
    opt = _lbfgs("none", 0.2)
    for _ in range(STEPS):
        opt.update(*_one_buffer(x, g), closure=closure)
    assert opt.t == STEPS and opt.converged is None
    ref = _torch_lbfgs(xt, "none", 0.2, STEPS)

    def torch_closure():
        ref.zero_grad()
        loss = torch_loss(xt)
        loss.backward()
        return loss
    ref.step(torch_closure)
    err = np.abs(x - xt.detach().numpy()).max() / np.abs(x).max()
    assert err <= TOL, f"relative difference {err:.3g}"
    assert evals[0] == ref.state[xt]["func_evals"] + 1


@pytest.mark.parametrize("line_search", ["none", "strong_wolfe"])
def test_lbfgs_matches_torch_iteration_by_iteration(line_search):
    """Each of 100 iterations from the same weights and memory (s, y, rho, H_diag, d, t): a line
    search's branches amplify rounding over a trajectory (here 1e-15 to 1e-9 in 100 iterations on
    this non-convex problem), so the trajectory is not a 1e-10 test of the rule. The number of
    loss evaluations of each iteration (line search included) is torch's too."""
    x, g, closure, evals, torch_loss = _flat_problem(1)
    opt = _lbfgs(line_search, 1.0 if line_search == "strong_wolfe" else 0.2)
    for it in range(1, STEPS + 1):
        xt = torch.tensor(x, requires_grad=True)
        ref = _torch_lbfgs(xt, line_search, opt.lr, 1)
        if opt.t:
            ref.state[xt].update({"func_evals": 0, "n_iter": opt.t, "d": torch.tensor(opt.d), "t": opt.step_len,
                                  "old_dirs": [torch.tensor(y) for y in opt.Y],
                                  "old_stps": [torch.tensor(s) for s in opt.S], "ro": list(opt.rho),
                                  "H_diag": opt.H_diag, "prev_flat_grad": torch.tensor(opt.g_prev),
                                  "prev_loss": 0.0})
        before = evals[0]
        opt.update(*_one_buffer(x, g), closure=closure)
        ours = evals[0] - before

        def torch_closure():
            ref.zero_grad()
            loss = torch_loss(xt)
            loss.backward()
            return loss
        ref.step(torch_closure)
        err = np.abs(x - xt.detach().numpy()).max() / np.abs(x).max()
        assert err <= TOL, f"iteration {it}: relative difference {err:.3g}"
        # torch evaluates at the start of each call, ours reuses the last iteration's evaluation
        # (but for the first); torch's single iteration leaves the new point's evaluation to its
        # next call when it has no line search, ours makes it
        assert ours == ref.state[xt]["func_evals"] - 1 + (it == 1) + (line_search == "none"), f"iteration {it}"
    assert opt.t == STEPS and opt.converged is None
