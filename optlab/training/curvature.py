"""What a run records for its loss landscape while it trains (config section ``diagnostics``):

- **weight snapshots** every ``snapshot_every`` steps, at step 0 and at the last step
  (optlab.record.snapshots): the path ``optlab landscape`` projects onto its PCA plane;
- **sharpness** every ``sharpness_every`` steps and at step 0: the top eigenvalue of the Hessian
  of the training objective (mean data loss + penalty) on a fixed batch, the first
  ``sharpness_examples`` of the run's fixed train-evaluation subset, by Lanczos on exact
  Hessian-vector products (the R-operator, optlab.engine.hvp; :func:`hessian_vector_operator`
  falls back to centred differences of the analytic gradient, optlab.engine.hessian, for a model
  with a part that has none), beside the optimizer's stability threshold (2/lr for SGD, ...).
  For an adaptive optimizer (Adam, RMSprop, AdaGrad) the preconditioned sharpness
  lambda_max(P^-1 H) of Cohen et al. 2022 is recorded too, and it is the one its threshold
  applies to. Rows of ``sharpness.csv``: step, lr, lambda_max, preconditioned, threshold, rule.

Measuring never changes training: the gradients are taken with batch norm on the batch's own
statistics (the training loss) and its running statistics put back, dropout off (a mask would
draw from the run's stream), and the parameters and gradients restored bit for bit; the Lanczos
start vector comes from its own Generator seeded by (run seed, step), so a resumed run measures
what an uninterrupted one does.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from optlab.engine.hessian import hessian_operator, lanczos_top, preconditioned, preconditioner, stability_threshold
from optlab.engine.hvp import ExactHVP, missing_rop
from optlab.engine.layers import Dropout
from optlab.record.rundir import RunDir
from optlab.record.snapshots import truncate_snapshots, write_snapshot

SHARPNESS_COLUMNS = ["step", "lr", "lambda_max", "preconditioned", "threshold", "rule"]


def objective_gradient(model: Any, loss_fn: Any, penalty: Any, x: np.ndarray, y: np.ndarray) -> Callable:
    """``w -> gradient of (mean loss + penalty) at w`` on the batch (x, y): the training forward
    pass without its side effects (module docstring). Each call leaves the model as it found it."""

    def grad(w: np.ndarray) -> np.ndarray:
        saved_w, saved_b, saved_g = model.flat_params.copy(), model.flat_buffers.copy(), model.flat_grads.copy()
        try:
            model.flat_params[...] = w
            h = x
            for _, layer in model.layers:
                h = layer.forward(h, train=not isinstance(layer, Dropout))
            _, dout = loss_fn(h, y)
            model.backward(dout)
            if penalty.active:
                penalty.add_grad(model.params, model.grads, model.weight_names)
            return model.flat_grads.astype(np.float64)
        finally:
            model.flat_params[...] = saved_w
            model.flat_buffers[...] = saved_b
            model.flat_grads[...] = saved_g

    return grad


def hessian_vector_operator(model: Any, loss_fn: Any, penalty: Any, x: np.ndarray, y: np.ndarray
                            ) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """(``v -> H v`` at the model's current weights, method): ``"exact"`` (R-operator) where every
    part has one, else ``"finite differences (no R-operator: ...)"``; the model is left as it was.
    The exact operator holds the model's forward caches: use it before the model runs again."""
    missing = missing_rop(model, loss_fn, penalty)
    if not missing:
        return ExactHVP(model, loss_fn, penalty, x, y), "exact"
    grad = objective_gradient(model, loss_fn, penalty, x, y)
    return hessian_operator(grad, model.flat_params.astype(np.float64)), \
        f"finite differences (no R-operator: {', '.join(missing)})"


def optimizer_state(optimizer: Any, model: Any) -> dict[str, np.ndarray]:
    """The optimizer's per-parameter state as flat vectors laid out like ``flat_params``."""
    out = {}
    for slot in optimizer.slots:
        parts = [optimizer.state.get(name, {}).get(slot) for name in model.params]
        if all(p is not None for p in parts):
            out[slot] = np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in parts])
    return out


def sharpness(model: Any, make_op: Callable, optimizer: Any, opt_name: str, seed: int, step: int,
              iterations: int) -> dict[str, Any]:
    """One sharpness.csv row at the model's current weights (module docstring); ``make_op()``
    gives the Hessian operator there."""
    w = model.flat_params
    op = make_op()
    rng = np.random.default_rng([seed, step, 0x5A])   # its own stream: no run stream is consumed
    top, _ = lanczos_top(op, w.size, rng, iterations)
    threshold, is_pre, rule = stability_threshold(opt_name, optimizer.lr, optimizer.hyper)
    pre = math.nan
    if is_pre:
        p = preconditioner(opt_name, optimizer_state(optimizer, model), optimizer.hyper, optimizer.t)
        if p is not None:
            pre, _ = lanczos_top(preconditioned(op, p), w.size, np.random.default_rng([seed, step, 0x5B]),
                                 iterations)
    return {"step": step, "lr": optimizer.lr, "lambda_max": top, "preconditioned": pre,
            "threshold": threshold, "rule": ("preconditioned " if is_pre else "") + rule}


def fixed_batch(cfg: Any, data: Any, split: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The sharpness batch: the first ``sharpness_examples`` of the train-evaluation subset, or
    None when sharpness is not recorded."""
    if cfg.sharpness_every is None:
        return None
    k = cfg.sharpness_examples
    return data.features(split.x[:k], dtype), split.y[:k]


class LandscapeRecorder:
    """Snapshots and sharpness of one gradient run (module docstring); ``resume_step``: the
    checkpoint's step when resuming (later records are dropped, then written again)."""

    def __init__(self, cfg: Any, seed: int, opt_name: str, model: Any, loss_fn: Any, penalty: Any,
                 batch: tuple[np.ndarray, np.ndarray] | None, rd: RunDir, resume_step: int | None = None) -> None:
        self.cfg, self.seed, self.opt_name, self.model, self.rd = cfg, seed, opt_name, model, rd
        self.snap_every, self.sharp_every = cfg.snapshot_every, cfg.sharpness_every
        self.last_snapshot = -1
        if resume_step is not None:
            # keep what an uninterrupted run would have: step 0 and the multiples of the interval
            # up to the checkpoint (an interrupted run's end-of-run snapshot is not one of them)
            every = self.snap_every or 0
            truncate_snapshots(rd, lambda s: s <= resume_step and (s == 0 or (every and s % every == 0)))
        self.writer = None
        if self.sharp_every is not None:
            stability_threshold(opt_name, 1.0, {"momentum": 0.0, "beta1": 0.0})   # unknown optimizer: fail now
            self.make_op = lambda: hessian_vector_operator(model, loss_fn, penalty, *batch)[0]
            path = rd.path / "sharpness.csv"
            append = resume_step is not None and path.is_file()
            if append:
                rd.truncate_metrics(resume_step, name="sharpness.csv")
            self.writer = rd.metrics(SHARPNESS_COLUMNS, append=append, name="sharpness.csv")

    def record(self, step: int, optimizer: Any) -> None:
        """At step 0 and after the update of ``step``: whatever falls due."""
        if self.snap_every is not None and step % self.snap_every == 0:
            self.snapshot(step)
        if self.writer is not None and step % self.sharp_every == 0:
            self.writer.write(sharpness(self.model, self.make_op, optimizer, self.opt_name, self.seed, step,
                                        self.cfg.sharpness_iterations))

    def snapshot(self, step: int) -> None:
        if step != self.last_snapshot and np.all(np.isfinite(self.model.flat_params)):
            write_snapshot(self.rd, step, self.model.flat_params, self.model.flat_buffers)
            self.last_snapshot = step

    def finish(self, step: int) -> None:
        """The last step's weights, so the path ends where training ended."""
        if self.snap_every is not None:
            self.snapshot(step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
