"""The optimizers' update rules as JavaScript, translated from the engine's own ``step`` methods.

The surface explorer (optlab.record.explorer) re-runs the optimizers in the page as its sliders
move; its rules are not a second, hand-written copy that could drift from the engine: each
optimizer's ``step`` source (optlab.engine.optimizers, written with optlab.engine.formula) is
parsed and its formulas are written out as JavaScript, operator for operator in Python's order.
Every rule is elementwise, so the JavaScript runs it on one coordinate at a time (a number, not
an array); with IEEE doubles on both sides the numbers are the engine's float64 ones, up to
``**`` (C's ``pow`` against the browser's ``Math.pow``: an ulp at most, in Adam's bias terms).

What a ``step`` may say (all the engine's rules say nothing else; anything else is refused with
a ValueError naming the line, so a new rule that this cannot translate fails the tests, not the page):

    W, g, m = terms(self, W, g, m)     the arrays: the point, its gradient and the state slots
    m.set(f) / W.add(f) / W.sub(f)     m = f;  W = W + f;  W = W - f
    mu = self.momentum                 a name for a hyper-parameter
    v_prev = v.copy()                  a value kept before a later ``set`` changes v
    m_hat = f                          a named formula, evaluated where it is used

with ``f`` made of + - * / ** and unary minus, numbers, ``self.<hyper>``, ``self.t`` (the update
count, from 1), ``sqrt`` and ``sign``.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

from optlab.engine.optimizers import OPTIMIZERS, Optimizer

_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
_UPDATE = {"set": "{t} = {f};", "add": "{t} = {t} + {f};", "sub": "{t} = {t} - {f};"}


class _Rule:
    """The translation of one ``step``: ``s.<array>`` for the coordinate's arrays and state,
    ``hp.<name>`` for hyper-parameters, ``t`` for the update count."""

    def __init__(self, cls: type[Optimizer]) -> None:
        self.cls = cls
        self.arrays: set[str] = set()
        self.names: dict[str, str] = {}      # name -> its JavaScript (a formula, in parentheses)
        self.lines: list[str] = []

    def refuse(self, node: ast.AST, why: str) -> ValueError:
        return ValueError(f"{self.cls.__name__}.step, line {getattr(node, 'lineno', '?')}: cannot write as "
                          f"JavaScript ({why}): {ast.unparse(node)}")

    def expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return repr(float(node.value)) if isinstance(node.value, float) else str(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.arrays:
                return f"s.{node.id}"
            if node.id in self.names:
                return self.names[node.id]
            raise self.refuse(node, f"unknown name {node.id}")
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            if node.attr == "t":
                return "t"
            if node.attr in self.cls.hyper_names:
                return f"hp.{node.attr}"
            raise self.refuse(node, f"self.{node.attr} is not a hyper-parameter")
        if isinstance(node, ast.BinOp):
            left, right = self.expr(node.left), self.expr(node.right)
            if isinstance(node.op, ast.Pow):
                return f"Math.pow({left}, {right})"
            if type(node.op) in _BINARY:
                return f"({left} {_BINARY[type(node.op)]} {right})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return f"(-{self.expr(node.operand)})"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("sqrt", "sign") \
                and len(node.args) == 1 and not node.keywords:
            return f"Math.{node.func.id}({self.expr(node.args[0])})"
        raise self.refuse(node, "not an arithmetic formula")

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "terms":
                self.arrays.update(a.id for a in value.args[1:] if isinstance(a, ast.Name))
                return
            if isinstance(target, ast.Name):
                if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) \
                        and value.func.attr == "copy" and not value.args:
                    self.lines.append(f"var {target.id} = {self.expr(value.func.value)};")
                    self.names[target.id] = target.id
                else:
                    self.names[target.id] = self.expr(value)
                return
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            call = node.value
            if isinstance(call.func, ast.Attribute) and call.func.attr in _UPDATE and len(call.args) == 1 \
                    and isinstance(call.func.value, ast.Name) and call.func.value.id in self.arrays:
                self.lines.append(_UPDATE[call.func.attr].format(t=f"s.{call.func.value.id}", f=self.expr(call.args[0])))
                return
        raise self.refuse(node, "not a formula statement")


def rule_js(cls: type[Optimizer]) -> str:
    """``function (s, hp, t) {...}``: one update of one coordinate, ``s`` holding ``W``, ``g`` and
    the state slots (numbers, changed in place), ``hp`` the hyper-parameters, ``t`` the update count."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls.step)))
    func = tree.body[0]
    if not isinstance(func, ast.FunctionDef):
        raise ValueError(f"{cls.__name__}.step is not a function")
    rule = _Rule(cls)
    for node in func.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue   # a docstring
        rule.statement(node)
    body = "\n".join("    " + line for line in rule.lines)
    return f"function (s, hp, t) {{\n{body}\n  }}"


# Elementwise rules whose ``step`` is not the whole rule, so the explorer leaves them out: a
# number computed once per update outside ``step`` (NAdam's mu_t and running product, Schedule-Free's
# average weight c_t and its three sequences), a branch on the step count (RAdam's rectification),
# or a rule whose defining part is a wrapper (AdamW's decoupled decay; the paths run without decay).
NOT_IN_EXPLORER = {"nadam": "mu_t is computed per update, outside step",
                   "radam": "its step branches on rho_t",
                   "sgd_schedulefree": "c_t is computed per update, outside step",
                   "adamw_schedulefree": "c_t is computed per update, outside step",
                   "adamw": "its decoupled weight decay is the wrapper chain's, outside step (Adam is shown)"}


def elementwise() -> dict[str, type[Optimizer]]:
    """The optimizers whose rule works coordinate by coordinate (a rule that sees a whole tensor
    or vector, declared by its ``access``, has no coordinate-wise translation; NOT_IN_EXPLORER
    are elementwise but not a ``step`` alone)."""
    return {name: cls for name, cls in OPTIMIZERS.items()
            if getattr(cls, "access", "elementwise") == "elementwise" and name not in NOT_IN_EXPLORER}


def rules_js() -> str:
    """``var RULES = {name: {slots: [...], step: function}, ...}`` for every elementwise optimizer."""
    entries = []
    for name, cls in elementwise().items():
        entries.append(f"  {name}: {{slots: {list(cls.slots)!r}, step: {rule_js(cls)}}}")
    return "var RULES = {\n" + ",\n".join(entries) + "\n};\n"
