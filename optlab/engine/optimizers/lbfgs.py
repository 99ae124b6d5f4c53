"""L-BFGS (Nocedal & Wright 2006, Alg. 7.4 and 7.5): a quasi-Newton direction from the last
``history_size`` pairs (s, y) by the two-loop recursion, with a fixed step or a strong-Wolfe line
search (Alg. 3.5/3.6, cubic interpolation), as ``torch.optim.LBFGS``.

A full-batch method: the pairs y = g_{k+1} - g_k and the line search compare gradients and losses
of one objective at different points, so the training loop gives it a closure over the same
examples every step (optlab.training.gradient_loop). One ``step`` is one iteration; every loss
evaluation it makes goes through the closure, which the loop counts.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from optlab.engine.hyper import CATALOGUE, Hyper, Range
from optlab.engine.optimizers.base import Optimizer

SOURCE = "torch.optim.LBFGS"


class LBFGS(Optimizer):
    """L-BFGS with torch.optim.LBFGS's choices (one of its iterations per step).

        d = -H g       H g by the two-loop recursion over (s_i, y_i, rho_i = 1 / y_i.s_i), H_0 = s.y / y.y
        t = lr                (first step: min(1, 1 / sum|g|) * lr)
        line_search none:          x += t d
        line_search strong_wolfe:  t satisfying f(x + t d) <= f(x) + c1 t g.d and |g(x + t d).d| <= c2 |g.d|
        s = t d, y = g_new - g; the pair is kept only if y.s > 1e-10 (curvature condition)

    ``converged`` says why the iteration stopped (torch's tolerances), else None. ``line_search``
    is the strong-Wolfe search's budget of loss evaluations (torch's 25); 0: no line search.
    """

    name = "lbfgs"
    year = 1989
    access = "vector"
    transforms = ()
    lr = CATALOGUE["lr"].but(1.0, SOURCE)
    history_size = Hyper(10, Range(1.0), "L-BFGS: number m of (s, y) pairs kept for the two-loop recursion",
                         "Nocedal & Wright 2006, p. 177: m between 3 and 20", int)
    line_search = Hyper(25, Range(0.0), "L-BFGS: most loss evaluations of the strong-Wolfe line search per "
                        "step; 0: no line search, the fixed step lr", SOURCE, int)
    tolerance_grad = Hyper(1e-7, Range(0.0), "L-BFGS: stop when max |g| is at most this", SOURCE)
    tolerance_change = Hyper(1e-9, Range(0.0), "L-BFGS: stop when the loss or the step changes by less than this",
                             SOURCE)
    c1, c2 = 1e-4, 0.9      # Wolfe constants (torch's, N&W p. 142)
    # numbers kept in float64 whatever the parameters' dtype (torch.optim.LBFGS keeps them as Python floats)
    scalars = ("rho", "H_diag", "step_len", "loss_now")

    def __init__(self, **hyper) -> None:
        super().__init__(**hyper)
        self.S: list[np.ndarray] = []       # s_i = x_{i+1} - x_i, oldest first
        self.Y: list[np.ndarray] = []       # y_i = g_{i+1} - g_i
        self.rho: list[float] = []
        self.H_diag = 1.0
        self.d = self.g_prev = self.g_now = None
        self.step_len = math.nan
        self.loss_now = math.nan
        self.converged: str | None = None

    @classmethod
    def state_vectors(cls, hyper: dict) -> int:
        return 2 * int(hyper.get("history_size", 10)) + 4      # s and y pairs; d, g_prev, g_now, x0

    def update(self, params, grads, weights=None, closure=None):
        if closure is None:
            raise TypeError("L-BFGS needs a closure over the full batch: update(params, grads, closure=f)")
        if getattr(params, "whole", lambda: None)() is None or params.spans is not grads.spans:
            raise TypeError("L-BFGS changes the parameter vector its closure evaluates: pass a model's "
                            "params and grads (views into one buffer each), not copies")
        return self._update_vector(params, grads, closure)     # step counts t itself (not on convergence)

    def step(self, x: np.ndarray, g: np.ndarray, closure: Callable[[], float]) -> float:
        """One iteration on the parameter vector ``x`` (changed in place). ``closure()`` evaluates
        the objective at the present ``x``, writes its gradient into ``g`` and returns the loss.
        Returns the loss at ``x`` before the iteration."""
        if self.g_now is None:
            self.loss_now = closure()
            self.g_now = g.copy()
        loss, flat_grad = self.loss_now, self.g_now
        if np.abs(flat_grad).max() <= self.tolerance_grad:
            self.converged = "gradient"
            return loss
        self.t += 1
        if self.t == 1:
            d = -flat_grad
        else:
            y = flat_grad - self.g_prev
            s = self.d * self.step_len
            ys = float(y @ s)
            if ys > 1e-10:
                if len(self.S) == int(self.history_size):
                    self.S.pop(0), self.Y.pop(0), self.rho.pop(0)
                self.S.append(s), self.Y.append(y), self.rho.append(1.0 / ys)
                self.H_diag = ys / float(y @ y)
            d = self._two_loop(flat_grad)
        self.d, self.g_prev = d, flat_grad.copy()
        t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * self.lr if self.t == 1 else self.lr
        gtd = float(flat_grad @ d)
        if gtd > -self.tolerance_change:
            self.converged = "direction"
            self.step_len = t
            return loss
        if self.line_search:
            x0 = x.copy()

            def at(step: float) -> tuple[float, np.ndarray]:
                np.add(x0, step * d, out=x)
                f = closure()
                return f, g.copy()

            f_new, g_new, t = self._strong_wolfe(at, t, d, loss, flat_grad, gtd)
            np.add(x0, t * d, out=x)
        else:
            x += t * d
            f_new = closure()
            g_new = g.copy()
        self.step_len, self.loss_now, self.g_now = t, f_new, g_new
        if np.abs(g_new).max() <= self.tolerance_grad:
            self.converged = "gradient"
        elif np.abs(d * t).max() <= self.tolerance_change:
            self.converged = "step"
        elif abs(f_new - loss) < self.tolerance_change:
            self.converged = "loss"
        return loss

    def _two_loop(self, grad: np.ndarray) -> np.ndarray:
        """-H grad by N&W Alg. 7.4, newest pair first in the first loop."""
        q = -grad
        al = [0.0] * len(self.S)
        for i in range(len(self.S) - 1, -1, -1):
            al[i] = float(self.S[i] @ q) * self.rho[i]
            q -= al[i] * self.Y[i]
        r = q * self.H_diag
        for i in range(len(self.S)):
            be_i = float(self.Y[i] @ r) * self.rho[i]
            r += (al[i] - be_i) * self.S[i]
        return r

    def _strong_wolfe(self, at, t, d, f, g, gtd):
        """(loss, gradient, step) at a step satisfying the strong Wolfe conditions (N&W Alg. 3.5
        bracketing, Alg. 3.6 zoom by cubic interpolation), as torch.optim.lbfgs._strong_wolfe."""
        c1, c2, max_ls, tol = self.c1, self.c2, self.line_search, self.tolerance_change
        d_norm = float(np.abs(d).max())
        f_new, g_new = at(t)
        gtd_new = float(g_new @ d)
        t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
        done, ls_iter = False, 0
        while ls_iter < max_ls:                                    # bracketing phase
            if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
                bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
                break
            if abs(gtd_new) <= -c2 * gtd:
                bracket, bf, bg, bgtd = [t], [f_new], [g_new], [gtd_new]
                done = True
                break
            if gtd_new >= 0:
                bracket, bf, bg, bgtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
                break
            min_step, max_step = t + 0.01 * (t - t_prev), t * 10
            t_prev, t = t, _cubic(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (min_step, max_step))
            f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
            f_new, g_new = at(t)
            gtd_new = float(g_new @ d)
            ls_iter += 1
        if ls_iter == max_ls:
            bracket, bf, bg, bgtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]
        insuf_progress = False
        low, high = (0, 1) if bf[0] <= bf[-1] else (1, 0)
        while not done and ls_iter < max_ls:                        # zoom phase
            if abs(bracket[1] - bracket[0]) * d_norm < tol:
                break
            t = _cubic(bracket[0], bf[0], bgtd[0], bracket[1], bf[1], bgtd[1])
            eps = 0.1 * (max(bracket) - min(bracket))
            if min(max(bracket) - t, t - min(bracket)) < eps:
                if insuf_progress or t >= max(bracket) or t <= min(bracket):
                    t = max(bracket) - eps if abs(t - max(bracket)) < abs(t - min(bracket)) else min(bracket) + eps
                    insuf_progress = False
                else:
                    insuf_progress = True
            else:
                insuf_progress = False
            f_new, g_new = at(t)
            gtd_new = float(g_new @ d)
            ls_iter += 1
            if f_new > f + c1 * t * gtd or f_new >= bf[low]:
                bracket[high], bf[high], bg[high], bgtd[high] = t, f_new, g_new, gtd_new
                low, high = (0, 1) if bf[0] <= bf[1] else (1, 0)
            else:
                if abs(gtd_new) <= -c2 * gtd:
                    done = True
                elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                    bracket[high], bf[high], bg[high], bgtd[high] = bracket[low], bf[low], bg[low], bgtd[low]
                bracket[low], bf[low], bg[low], bgtd[low] = t, f_new, g_new, gtd_new
        return bf[low], bg[low], bracket[low]

    def state_dict(self) -> dict[str, np.ndarray]:
        n = 0 if self.g_now is None else self.g_now.size
        out = {"t": np.array(self.t), "S": np.array(self.S).reshape(-1, n), "Y": np.array(self.Y).reshape(-1, n),
               "rho": np.array(self.rho, dtype=np.float64), "H_diag": np.array(self.H_diag),
               "step_len": np.array(self.step_len), "loss_now": np.array(self.loss_now)}
        for name in ("d", "g_prev", "g_now"):
            value = getattr(self, name)
            out[name] = np.zeros(0) if value is None else value.copy()
        return out

    def load_state_dict(self, saved: dict[str, np.ndarray]) -> None:
        self.t = int(saved["t"])
        self.S, self.Y = [np.array(s) for s in saved["S"]], [np.array(y) for y in saved["Y"]]
        self.rho = [float(r) for r in saved["rho"]]
        self.H_diag, self.step_len, self.loss_now = (float(saved[k]) for k in ("H_diag", "step_len", "loss_now"))
        for name in ("d", "g_prev", "g_now"):
            setattr(self, name, np.array(saved[name]) if saved[name].size else None)


def _cubic(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clipped to ``bounds``
    (N&W eq. 3.59); the midpoint when the cubic has no minimiser."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, lo), hi)
    return (lo + hi) / 2.0
