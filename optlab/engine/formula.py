"""Formulas on arrays, evaluated in place: how an optimizer's rule is written as its formula.

An update rule is a few elementwise formulas, ``m = beta1 * m + (1 - beta1) * g``. Written with
numpy operators, each operator allocates a fresh array the size of the parameters; written with
``np.multiply(..., out=...)`` it allocates nothing but no longer reads as the formula. Here the
formula is written as such and evaluated the second way:

    W, g, m = terms(optimizer, W, g, m)       # wrap the arrays (all of one shape and dtype)
    m.set(beta1 * m + (1 - beta1) * g)        # m = beta1 * m + (1 - beta1) * g
    m_hat = m / (1 - beta1 ** t)              # a name for a formula: nothing computed yet
    W.sub(lr * m_hat / (sqrt(v) + eps))       # W -= lr * m_hat / (sqrt(v) + eps)

Python's operators on wrapped arrays build a tree (:class:`Op`) and compute nothing;
``target.set(f)``, ``target.add(f)`` and ``target.sub(f)`` (``target = f``, ``target += f``,
``target -= f``) evaluate it, one numpy ufunc per operator, each with ``out=``:

- the target itself is the output of the last operation, and when the target occurs once in the
  formula, of every operation on the way to it: ``m.set(beta1 * m + c * g)`` runs exactly
  ``m *= beta1; tmp = c * g; m += tmp`` (``np.multiply(beta1, m, out=m)``);
- every other result goes into a scratch array the optimizer keeps between steps
  (``Optimizer.scratch``), reusing an operand's scratch array once the operand is consumed, so
  a rule needs two scratch arrays and allocates no array the size of the parameters;
- each operation has exactly the operands Python's own evaluation of the written formula gives
  it (``a * b * c`` is ``(a * b) * c``; ``(1 - beta1)`` of two floats is a Python float): an
  elementwise IEEE operation gives the same bits whichever array it writes to, so the numbers
  are those of plain numpy on the same formula, bit for bit.

Hyper-parameters stay Python floats, so a float32 array stays float32 (NumPy's NEP 50: a Python
float adapts to the array, a numpy float64 would promote it); :func:`sqrt` of a float is
``math.sqrt``. A named formula (``m_hat`` above) is computed where it is used, from the arrays'
values at that moment: use it after the ``set`` it depends on, as in the formula's own order.
A value that must outlive a ``set`` of its array is copied eagerly: ``v_prev = v.copy()`` (its
scratch array stays reserved until the next :func:`terms`).

A rule runs every step, so each formula's shape (its ufuncs, which array where, where the
constants are) is compiled once into a plan, a function of numpy calls (:func:`plan` shows it),
and found again by that shape: a step only builds its small trees (about as dear per operator
as one numpy call on a small array) and runs the plans. Python's cost: docs/performance.md.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


class Term:
    """Something a formula is made of: an array (:class:`Array`) or an operation on terms (:class:`Op`).
    Operators with Python floats and other terms build :class:`Op` nodes; nothing is computed.
    ``key`` is the term's shape (ufuncs, which array where, constants as None) and ``consts``
    its constants in written order: evaluation looks its compiled plan up by ``key`` and walks
    no tree (a rule is evaluated every step)."""

    __slots__ = ()
    __array_ufunc__ = None      # ``ndarray * term`` gives way to Term.__rmul__, as a float does
    key: object
    consts: tuple

    def __neg__(self):
        return Op(np.negative, self)


class Op(Term):
    """One ufunc applied to its operands (terms, or constants: Python floats), in the order written."""

    __slots__ = ("ufunc", "args", "key", "consts")

    def __init__(self, ufunc: np.ufunc, *args) -> None:
        self.ufunc, self.args = ufunc, args
        self.key = (ufunc, *(a.key if isinstance(a, Term) else None for a in args))
        self.consts = sum((a.consts if isinstance(a, Term) else (a,) for a in args), ())

    def __repr__(self) -> str:
        return f"{self.ufunc.__name__}({', '.join(map(repr, self.args))})"


def _operator(ufunc: np.ufunc, reflected: bool):
    """``term (op) other`` (or ``other (op) term`` when reflected) as an :class:`Op`, built inline
    rather than through ``Op.__init__``: a rule builds a dozen of these every step, and this way
    each costs about one ufunc call on a small array."""
    new = object.__new__

    def operator(self, other):
        op = new(Op)
        if isinstance(other, Term):
            key, consts = other.key, other.consts
        else:
            key, consts = None, (other,)
        op.ufunc = ufunc
        if reflected:
            op.args, op.key, op.consts = (other, self), (ufunc, key, self.key), consts + self.consts
        else:
            op.args, op.key, op.consts = (self, other), (ufunc, self.key, key), self.consts + consts
        return op
    return operator


for _name, _ufunc in (("add", np.add), ("sub", np.subtract), ("mul", np.multiply), ("truediv", np.divide)):
    setattr(Term, f"__{_name}__", _operator(_ufunc, reflected=False))
    setattr(Term, f"__r{_name}__", _operator(_ufunc, reflected=True))


def sqrt(x):
    """Elementwise square root of a term; of a Python float, ``math.sqrt`` (a float stays a float)."""
    return Op(np.sqrt, x) if isinstance(x, Term) else math.sqrt(x)


def sign(x):
    """Elementwise sign of a term (-1, 0 or 1); of a Python float, a float."""
    return Op(np.sign, x) if isinstance(x, Term) else float((x > 0) - (x < 0))


class Array(Term):
    """A wrapped array: a leaf of formulas and a target of ``set`` / ``add`` / ``sub``.
    ``key`` is its place in its :class:`Workspace`."""

    __slots__ = ("a", "work", "key")
    consts = ()

    def __init__(self, a: np.ndarray, work: Workspace, key: int) -> None:
        self.a, self.work, self.key = a, work, key

    def __repr__(self) -> str:
        return f"Array#{self.key}{self.a.shape}"

    def set(self, formula) -> None:
        """``self = formula``, computed into this array."""
        self.work.evaluate(self, None, formula)

    def add(self, formula) -> None:
        """``self += formula``, that is ``self = self + formula``."""
        self.work.evaluate(self, np.add, formula)

    def sub(self, formula) -> None:
        """``self -= formula``, that is ``self = self - formula``."""
        self.work.evaluate(self, np.subtract, formula)

    def copy(self) -> Array:
        """The array's present value, copied now into a scratch array kept until the next ``terms``."""
        work = self.work
        out, = work.scratch(1)
        work.kept += 1
        np.copyto(out, self.a)
        work.arrays.append(out)
        return Array(out, work, len(work.arrays) - 1)


class Workspace:
    """The arrays of one step's formulas and their scratch arrays, taken from ``owner.scratch``
    (kept between steps, contents garbage); the first ``kept`` hold :meth:`Array.copy` values."""

    __slots__ = ("owner", "arrays", "kept", "bufs")

    def __init__(self, owner, arrays: list[np.ndarray]) -> None:
        self.owner, self.arrays, self.kept = owner, arrays, 0
        self.bufs: list[np.ndarray] = []     # owner.scratch(arrays[0], ...) as far as this step asked

    def scratch(self, k: int) -> list[np.ndarray]:
        """``k`` scratch arrays after the kept ones."""
        end = self.kept + k
        if len(self.bufs) < end:
            self.bufs = self.owner.scratch(self.arrays[0], end)
        return self.bufs[self.kept:end]

    def evaluate(self, target: Array, ufunc: np.ufunc | None, formula) -> None:
        """``target = formula``, or ``target = ufunc(target, formula)`` (``add``, ``sub``), computed
        into ``target.a`` (module docstring: which array each operation writes)."""
        if not isinstance(formula, Term):                     # a constant
            if ufunc is None:
                np.copyto(target.a, formula)
            else:
                ufunc(target.a, formula, out=target.a)
            return
        if ufunc is None and type(formula) is Array:
            np.copyto(target.a, formula.a)
            return
        key = (ufunc, target.key, formula.key)
        plan = _PLANS.get(key)
        if plan is None:
            whole = formula if ufunc is None else Op(ufunc, target, formula)
            if any(isinstance(leaf, Array) and leaf.work is not self for leaf in _leaves(whole)):
                raise ValueError("a formula mixes arrays wrapped by different terms() calls")
            plan = _PLANS[key] = _compile(whole, target.key)
        run, ntemps = plan
        run(formula.consts, self.scratch(ntemps), self.arrays)


# Ufuncs that numpy runs about 10x slower when the output is the input (np.sign on float32,
# numpy 2.4: ~600 us in place against ~60 us into another array of 109 386 elements,
# benchmarks/optimizer_steps.py): their result goes to another scratch array.
_NOT_IN_PLACE = frozenset({np.sign})

# (add / subtract / None for set, target's key, formula's key) -> (the compiled plan: a function of (constants, scratch arrays,
# arrays), how many scratch arrays it needs)
_PLANS: dict[tuple, tuple[Callable, int]] = {}


def _leaves(node):
    if type(node) is Op:
        for arg in node.args:
            yield from _leaves(arg)
    else:
        yield node


def _compile(formula: Op, target: int) -> tuple[list, int]:
    """The instructions that compute ``formula`` into array ``target``, one per operator, each
    with the operands Python's evaluation of the formula gives it. The target is the output of
    the last one and, if it occurs once in the formula, of each one on the way to it; every
    other result goes to a scratch array, an operand's own once that operand is consumed."""
    path: set[int] = set()
    inplace = _occurrences(formula, target, path) == 1
    code: list[tuple] = []
    free: list[int] = []
    ntemps = 0
    nconsts = 0

    def emit(node: Op, out) -> tuple:
        """Operands are ("c", i) constants, ("t", i) scratch arrays, ("a", i) arrays."""
        nonlocal ntemps, nconsts
        operands, mine = [], []
        for arg in node.args:
            if type(arg) is Op:
                if inplace and id(arg) in path:
                    operands.append(emit(arg, out))
                else:
                    operands.append(emit(arg, None))
                    mine.append(operands[-1])
            elif isinstance(arg, Array):
                operands.append(("a", arg.key))
            else:
                operands.append(("c", nconsts))
                nconsts += 1
        if out is None:
            if mine and node.ufunc not in _NOT_IN_PLACE:
                out = mine.pop(0)
            elif free:
                out = free.pop()
            else:
                out, ntemps = ("t", ntemps), ntemps + 1
        code.append((node.ufunc, *operands, *[None] * (2 - len(operands)), out))
        free.extend(mine)            # operands consumed: their scratch arrays are free again
        return out

    emit(formula, ("a", target))
    # The instructions as the body of one Python function, ``multiply(c[0], a[2], out=a[2])``:
    # it reads as the numpy calls a formula makes (plan()) and runs without an interpreting loop.
    lines = [f"    {f.__name__}({', '.join(f'{r[0]}[{r[1]}]' for r in (a, b) if r)}, out={o[0]}[{o[1]}])"
             for f, a, b, o in code]
    source = "def run(c, t, a):\n" + "\n".join(lines)
    namespace = {f.__name__: f for f, *_ in code}
    exec(compile(source, "<formula>", "exec"), namespace)
    run = namespace["run"]
    run.source = source          # what a formula computes, for a reader (and tests/test_formula.py)
    return run, ntemps


def plan(target: Array, formula, ufunc: np.ufunc | None = None) -> str:
    """The compiled instructions of ``target.set(formula)`` (``add``: ufunc np.add; ``sub``:
    np.subtract), as source: ``c`` its constants, ``t`` scratch arrays, ``a`` the arrays of
    :func:`terms` in order."""
    whole = formula if ufunc is None else Op(ufunc, target, formula)
    return _compile(whole, target.key)[0].source


def _occurrences(node, target: int, path: set[int]) -> int:
    """How many times array ``target`` occurs in ``node``; ``path`` gets the ids of the Ops holding it."""
    if type(node) is not Op:
        return int(isinstance(node, Array) and node.key == target)
    n = sum(_occurrences(arg, target, path) for arg in node.args)
    if n:
        path.add(id(node))
    return n


def terms(owner, *arrays: np.ndarray) -> tuple[Array, ...]:
    """Wrap ``arrays`` (one shape and dtype, the first's) for formulas evaluated with ``owner``'s
    scratch arrays: ``owner.scratch(like, k)`` returns k arrays shaped like ``like``, kept
    between calls (optlab.engine.optimizers.Optimizer.scratch)."""
    work = Workspace(owner, list(arrays))
    return tuple([Array(a, work, i) for i, a in enumerate(arrays)])
