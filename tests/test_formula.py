"""optlab.engine.formula: a formula written with operators computes plain numpy's numbers, bit for
bit, in place, through kept scratch arrays, allocating nothing the size of its arrays."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from optlab.engine import formula
from optlab.engine.formula import sqrt, terms


class Owner:
    """What terms() needs of an optimizer: scratch(like, k), kept between calls; counts what it made."""

    def __init__(self) -> None:
        self.kept: dict[tuple, list[np.ndarray]] = {}

    def scratch(self, like, k):
        have = self.kept.setdefault((like.shape, like.dtype), [])
        while len(have) < k:
            have.append(np.empty_like(like))
        return have[:k]

    def count(self) -> int:
        return sum(map(len, self.kept.values()))


def arrays(dtype="float32", n=1000, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) for _ in range(4)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bits_are_plain_numpys_on_the_same_formula(dtype):
    W0, g0, m0, v0 = arrays(dtype)
    v0 = np.abs(v0)
    b1, b2, lr, eps, t = 0.9, 0.999, 1e-3, 1e-8, 7
    # plain numpy, with fresh temporaries: the formula as a textbook writes it
    m1 = b1 * m0 + (1 - b1) * g0
    v1 = b2 * v0 + (1 - b2) * g0 * g0
    W1 = W0 - lr * (m1 / (1 - b1 ** t)) / (np.sqrt(v1 / (1 - b2 ** t)) + eps)
    h1 = (-b1 * m0 + (1 + b1) * m1) / 3.0 - 2.0 * g0 + g0 / (0.5 - v1)     # reflected ops, both sides

    owner = Owner()
    W, g, m, v, h = terms(owner, W0.copy(), g0, m0.copy(), v0.copy(), np.empty_like(W0))
    m_prev = m.copy()
    m.set(b1 * m + (1 - b1) * g)
    v.set(b2 * v + (1 - b2) * g * g)
    m_hat = m / (1 - b1 ** t)
    v_hat = v / (1 - b2 ** t)
    W.sub(lr * m_hat / (sqrt(v_hat) + eps))
    h.set((-b1 * m_prev + (1 + b1) * m) / 3.0 - 2.0 * g + g / (0.5 - v))
    for got, want in ((m.a, m1), (v.a, v1), (W.a, W1), (h.a, h1)):
        assert got.dtype == np.dtype(dtype)
        assert np.array_equal(got, want)


def test_each_operator_keeps_its_operands_in_written_order():
    owner = Owner()
    x, y, out = terms(owner, np.array([8.0, 3.0]), np.array([2.0, 5.0]), np.zeros(2))
    for made, want in [(x - y, [6.0, -2.0]), (1.0 - x, [-7.0, -2.0]), (x / y, [4.0, 0.6]),
                       (1.0 / y, [0.5, 0.2]), (-x, [-8.0, -3.0]), (x - y - 1.0, [5.0, -3.0]),
                       (x - (y - 1.0), [7.0, -1.0]), (sqrt(x * 2.0), [4.0, np.sqrt(6.0)])]:
        out.set(made)
        assert np.array_equal(out.a, want), made
    assert repr(x - y) == "subtract(Array#0(2,), Array#1(2,))"


def test_target_once_is_written_in_place_on_its_path():
    """m.set(b * m + c * g) is m *= b; tmp = c * g; m += tmp: one scratch array, not two."""
    owner = Owner()
    m, g = terms(owner, np.ones(5), np.ones(5))
    assert formula.plan(m, 0.5 * m + 0.25 * g) == (
        "def run(c, t, a):\n"
        "    multiply(c[0], a[0], out=a[0])\n"
        "    multiply(c[1], a[1], out=t[0])\n"
        "    add(a[0], t[0], out=a[0])")
    m.set(0.5 * m + 0.25 * g)
    assert owner.count() == 1
    assert np.array_equal(m.a, np.full(5, 0.75))


def test_target_twice_is_written_only_by_the_last_operation():
    """W.set(W - 0.5 * W * W): W is read three times, so only the final subtraction writes it."""
    owner = Owner()
    W0 = np.array([1.0, 2.0, -3.0])
    W, = terms(owner, W0.copy())
    assert formula.plan(W, W - 0.5 * W * W) == (
        "def run(c, t, a):\n"
        "    multiply(c[0], a[0], out=t[0])\n"
        "    multiply(t[0], a[0], out=t[0])\n"
        "    subtract(a[0], t[0], out=a[0])")
    W.set(W - 0.5 * W * W)
    assert np.array_equal(W.a, W0 - 0.5 * W0 * W0)
    W.sub(0.1 * W)                           # W -= 0.1 * W
    want = W0 - 0.5 * W0 * W0
    assert np.array_equal(W.a, want - 0.1 * want)


def test_copy_keeps_its_value_while_other_formulas_use_scratch():
    owner = Owner()
    v0 = np.arange(6.0)
    v, g, W = terms(owner, v0.copy(), np.ones(6), np.zeros(6))
    v_prev = v.copy()
    v.set(0.9 * v - 0.1 * g)
    W.add(-0.9 * v_prev + 1.9 * v)
    v1 = 0.9 * v0 - 0.1 * np.ones(6)
    assert np.array_equal(v_prev.a, v0), "the copy was reused as a temporary"
    assert np.array_equal(W.a, np.zeros(6) + (-0.9 * v0 + 1.9 * v1))
    assert owner.count() == 3                # the copy and two temporaries


def test_scalars_stay_python_floats_and_float32_stays_float32():
    owner = Owner()
    x, out = terms(owner, np.full(3, 2.0, np.float32), np.zeros(3, np.float32))
    assert isinstance(sqrt(4.0), float)
    out.set(sqrt(x) * (1.0 / 3.0) + 1e-8)
    assert out.a.dtype == np.float32
    assert np.array_equal(out.a, np.sqrt(np.full(3, 2.0, np.float32)) * (1.0 / 3.0) + 1e-8)


def test_constants_and_arrays_as_whole_formulas():
    owner = Owner()
    x, y = terms(owner, np.ones(3), np.full(3, 2.0))
    x.add(y)
    assert np.array_equal(x.a, [3.0, 3.0, 3.0])
    x.sub(0.5)
    x.set(x * 2.0)
    assert np.array_equal(x.a, [5.0, 5.0, 5.0])
    x.set(y)
    assert np.array_equal(x.a, y.a)
    x.set(0.0)
    assert not x.a.any()


def test_arrays_of_two_terms_calls_do_not_mix():
    owner = Owner()
    x, = terms(owner, np.ones(3))
    y, = terms(owner, np.ones(3))
    with pytest.raises(ValueError, match="different terms"):
        x.set(x * 3.0 + y * 7.0 + x)


def test_a_compiled_formula_allocates_nothing_the_size_of_its_arrays():
    owner = Owner()
    W0, g0, m0, v0 = arrays("float32", n=200_000)
    W, g, m, v = terms(owner, W0, g0, m0, np.abs(v0))

    def rule():
        m.set(0.9 * m + (1 - 0.9) * g)
        v.set(0.999 * v + (1 - 0.999) * g * g)
        W.sub(1e-3 * (m / 0.5) / (sqrt(v / 0.25) + 1e-8))

    rule()                                   # plans compiled, scratch made
    tracemalloc.start()
    try:
        rule()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < W0.nbytes // 4, f"{peak} bytes allocated"
    assert owner.count() == 2
