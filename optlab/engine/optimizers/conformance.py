"""The conformance suite an optimizer class must pass to be used like the built-in ones
(``optlab optimizers check FILE_OR_NAME``; tests/test_optimizer_registry.py runs it on every
built-in rule):

- **state round trip**: ``load_state_dict(state_dict())`` gives back every array, bit for bit;
- **resume**: an optimizer restored from a state_dict after 3 steps continues exactly as the
  original (a checkpointed run resumes bit-identically);
- **dtype kept**: float32 parameters and state stay float32 (a numpy float64 scalar would promote);
- **no NaN on a quadratic**: 200 steps at the defaults on f(W) = 0.5 sum(a (W - c)^2) stay finite;
- **no per-step allocation**: after the first update, an update allocates less than half the
  parameters' size (tracemalloc), as the formulas of optlab.engine.formula do;
- **deterministic**: two fresh optimizers fed the same gradients give the same bits.

Each check runs on a model-like pair of tensor buffers (a 2-D matrix and a vector, the layout the
training loop passes) and reports its failure as a sentence; an exception is a failure too.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from typing import Callable

import numpy as np

from optlab.engine.models import TensorViews
from optlab.engine.optimizers.base import Optimizer

SHAPES = {"fc.W": (6, 5), "fc.b": (5,)}


@dataclass
class Check:
    name: str
    ok: bool
    message: str = ""


def _tensors(dtype=np.float64, fill: np.ndarray | None = None, spans: dict | None = None) -> TensorViews:
    n = sum(int(np.prod(s)) for s in SHAPES.values())
    out = TensorViews(np.ones(n, dtype) if fill is None else fill.astype(dtype).copy())
    start = 0
    for name, shape in SHAPES.items():
        size = int(np.prod(shape))
        out.add_view(name, slice(start, start + size), shape)
        start += size
    if spans is not None:
        out.spans = spans          # laid out alike: the whole-buffer path, as a model's params and grads
    return out


def _run(opt: Optimizer, params: TensorViews, grads: list[np.ndarray]) -> None:
    g = _tensors(params.flat.dtype, spans=params.spans)
    for step in grads:
        g.flat[...] = step
        _update(opt, params, g, step)


def _update(opt: Optimizer, params: TensorViews, g: TensorViews, step: np.ndarray, closure=None) -> None:
    """One update; a rule on the whole vector (L-BFGS) gets a closure instead (``closure`` or
    :func:`_quadratic`'s over ``step``), whose gradient it may evaluate several times."""
    if opt.access != "vector":
        opt.update(params, g, weights=["fc.W"])
        return
    opt.update(params, g, weights=["fc.W"], closure=closure or _quadratic(params, g, step))


def _quadratic(params: TensorViews, g: TensorViews, step: np.ndarray):
    """The closure of the quadratic 0.5 sum(a (x - c)^2), a = 1 + |step| and c = step, writing
    its gradient a (x - c) into ``g``; its arrays are made here, so an evaluation allocates none."""
    a, c, r = 1.0 + np.abs(step), step.copy(), np.empty_like(params.flat)

    def closure() -> float:
        np.subtract(params.flat, c, out=r)
        np.multiply(a, r, out=g.flat)
        return 0.5 * float(g.flat @ r)
    return closure


def _grads(k: int, dtype=np.float64) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    n = sum(int(np.prod(s)) for s in SHAPES.values())
    return [rng.standard_normal(n).astype(dtype) for _ in range(k)]


def state_round_trip(cls) -> str | None:
    opt = cls()
    _run(opt, _tensors(), _grads(3))
    saved = opt.state_dict()
    other = cls()
    other.load_state_dict(saved)
    again = other.state_dict()
    if set(again) != set(saved):
        return f"keys differ after load_state_dict: {sorted(set(saved) ^ set(again))}"
    bad = [k for k in saved if not np.array_equal(np.asarray(saved[k]), np.asarray(again[k]))]
    return f"arrays differ after load_state_dict: {bad}" if bad else None


def resume(cls) -> str | None:
    grads = _grads(6)
    first, p1 = cls(), _tensors()
    _run(first, p1, grads[:3])
    second, p2 = cls(), _tensors(fill=p1.flat)
    second.load_state_dict(first.state_dict())
    _run(first, p1, grads[3:])
    _run(second, p2, grads[3:])
    if not np.array_equal(p1.flat, p2.flat):
        return f"a restored optimizer continues differently (max difference {np.abs(p1.flat - p2.flat).max():.3g})"
    return None


def dtype_kept(cls) -> str | None:
    opt, params = cls(), _tensors(np.float32)
    _run(opt, params, _grads(2, np.float32))
    if params.flat.dtype != np.float32:
        return f"float32 parameters became {params.flat.dtype}"
    wrong = [k for k, v in opt.state_dict().items() if k != "t" and k not in cls.scalars and np.asarray(v).dtype.kind == "f"
             and np.asarray(v).dtype != np.float32]
    return f"state kept in another dtype than float32: {wrong}" if wrong else None


def quadratic(cls) -> str | None:
    n = sum(int(np.prod(s)) for s in SHAPES.values())
    a, c = np.linspace(1.0, 10.0, n), np.linspace(-1.0, 1.0, n)
    opt, params = cls(), _tensors(fill=np.zeros(n))
    g = _tensors(spans=params.spans)
    for step in range(200):
        g.flat[...] = a * (params.flat - c)
        if opt.access == "vector":
            _update(opt, params, g, np.zeros(n))
        else:
            opt.update(params, g, weights=["fc.W"])
        if not np.all(np.isfinite(params.flat)):
            return f"parameters not finite after {step + 1} steps on a quadratic (curvatures 1 to 10)"
    return None


def no_allocation(cls) -> str | None:
    n = 200_000
    params = TensorViews(np.ones(n))
    params.add_view("fc.W", slice(0, n), (400, 500))
    grads = TensorViews(np.random.default_rng(0).standard_normal(n))
    grads.add_view("fc.W", slice(0, n), (400, 500))
    grads.spans = params.spans
    opt = cls()
    step = grads.flat.copy()
    closure = _quadratic(params, grads, step)        # the objective's arrays: not the rule's
    _update(opt, params, grads, step, closure)       # state and scratch arrays are made here
    tracemalloc.start()
    try:
        _update(opt, params, grads, step, closure)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = params.flat.nbytes
    if peak > size / 2:
        return (f"an update allocated {peak / size:.1f}x the parameters' size ({peak} bytes); write the rule "
                "with optlab.engine.optimizers.terms or numpy's out= so it works in place")
    return None


def deterministic(cls) -> str | None:
    grads = _grads(4)
    p1, p2 = _tensors(), _tensors()
    _run(cls(), p1, grads)
    _run(cls(), p2, grads)
    return None if np.array_equal(p1.flat, p2.flat) else "two fresh optimizers on the same gradients differ"


CHECKS: dict[str, Callable[[type], str | None]] = {
    "state round trip": state_round_trip, "resume bit-identical": resume, "dtype kept": dtype_kept,
    "no NaN on a quadratic": quadratic, "no per-step allocation": no_allocation, "deterministic": deterministic,
}


def conformance(cls: type[Optimizer]) -> list[Check]:
    """Every check of the module docstring on ``cls`` (at its default hyper-parameters)."""
    out = []
    for name, check in CHECKS.items():
        try:
            problem = check(cls)
        except Exception as exc:     # a user's rule that raises fails this check, and the others still run
            problem = f"raised {type(exc).__name__}: {exc}"
        out.append(Check(name, problem is None, problem or ""))
    return out
