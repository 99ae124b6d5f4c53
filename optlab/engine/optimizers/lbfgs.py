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
        # Made at the first step, when the parameter count n is known, and reused after: the pairs
        # in ring buffers (m, n), slot (head + i) % m holding the i-th oldest of ``count`` pairs.
        self._S = self._Y = None            # s_i = x_{i+1} - x_i and y_i = g_{i+1} - g_i, rows
        self._rho = np.zeros(0)             # rho_i = 1 / y_i.s_i, by slot
        self.head = self.count = 0
        self.H_diag = 1.0
        self.d = self.g_prev = self.g_now = None
        self.step_len = math.nan
        self.loss_now = math.nan
        self.converged: str | None = None

    @classmethod
    def state_vectors(cls, hyper: dict) -> int:
        # s and y pairs; d, g_prev, x0, and the scratch q, tmp; g_now and the line search's three
        # other gradients (a bracket's two and the trial point's)
        return 2 * int(hyper.get("history_size", 10)) + 9

    @property
    def S(self) -> list[np.ndarray]:
        """The kept s_i, oldest first (views into the ring buffer)."""
        return [self._S[self._slot(i)] for i in range(self.count)]

    @property
    def Y(self) -> list[np.ndarray]:
        """The kept y_i, oldest first (views into the ring buffer)."""
        return [self._Y[self._slot(i)] for i in range(self.count)]

    @property
    def rho(self) -> list[float]:
        return [float(self._rho[self._slot(i)]) for i in range(self.count)]

    def _slot(self, i: int) -> int:
        return (self.head + i) % int(self.history_size)

    def _allocate(self, n: int, dtype) -> None:
        m = int(self.history_size)
        self._S, self._Y = np.zeros((m, n), dtype), np.zeros((m, n), dtype)
        self._rho = np.zeros(m)
        self.d, self.g_prev, self.x0, self.q, self.tmp = (np.zeros(n, dtype) for _ in range(5))
        self.pool = [np.zeros(n, dtype) for _ in range(4)]     # gradients: g_now is one of them
        self.g_now = self.pool[0]

    def _gradient_buffer(self, *in_use: np.ndarray) -> np.ndarray:
        """A pool gradient buffer that none of ``in_use`` is."""
        return next(b for b in self.pool if not any(b is u for u in in_use))

    def _max_abs(self, v: np.ndarray) -> float:
        return float(np.abs(v, out=self.tmp).max())

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
            self._allocate(x.size, x.dtype)
            self.loss_now = closure()
            np.copyto(self.g_now, g)
        loss, flat_grad = self.loss_now, self.g_now
        if self._max_abs(flat_grad) <= self.tolerance_grad:
            self.converged = "gradient"
            return loss
        self.t += 1
        if self.t == 1:
            np.negative(flat_grad, out=self.d)
        else:
            y = np.subtract(flat_grad, self.g_prev, out=self.q)        # the scratch arrays hold the
            s = np.multiply(self.d, self.step_len, out=self.tmp)       # candidate pair until it is kept
            ys = float(y @ s)
            if ys > 1e-10:
                m = int(self.history_size)
                if self.count == m:
                    slot, self.head = self.head, (self.head + 1) % m      # the oldest pair makes room
                else:
                    slot, self.count = self._slot(self.count), self.count + 1
                np.copyto(self._S[slot], s), np.copyto(self._Y[slot], y)
                self._rho[slot] = 1.0 / ys
                self.H_diag = ys / float(y @ y)
            self._two_loop(flat_grad, out=self.d)
        d = self.d
        np.copyto(self.g_prev, flat_grad)
        t = min(1.0, 1.0 / float(np.abs(flat_grad, out=self.tmp).sum())) * self.lr if self.t == 1 else self.lr
        gtd = float(flat_grad @ d)
        if gtd > -self.tolerance_change:
            self.converged = "direction"
            self.step_len = t
            return loss
        if self.line_search:
            x0 = self.x0
            np.copyto(x0, x)

            def at(step: float, *in_use: np.ndarray) -> tuple[float, np.ndarray]:
                np.add(x0, np.multiply(d, step, out=self.tmp), out=x)
                f = closure()
                kept = self._gradient_buffer(flat_grad, *in_use)
                np.copyto(kept, g)
                return f, kept

            f_new, g_new, t = self._strong_wolfe(at, t, d, loss, flat_grad, gtd)
            np.add(x0, np.multiply(d, t, out=self.tmp), out=x)
        else:
            x += np.multiply(d, t, out=self.tmp)
            f_new = closure()
            g_new = self._gradient_buffer(flat_grad)
            np.copyto(g_new, g)
        self.step_len, self.loss_now, self.g_now = t, f_new, g_new
        if self._max_abs(g_new) <= self.tolerance_grad:
            self.converged = "gradient"
        elif float(np.abs(np.multiply(d, t, out=self.tmp), out=self.tmp).max()) <= self.tolerance_change:
            self.converged = "step"
        elif abs(f_new - loss) < self.tolerance_change:
            self.converged = "loss"
        return loss

    def _two_loop(self, grad: np.ndarray, out: np.ndarray) -> np.ndarray:
        """-H grad into ``out`` by N&W Alg. 7.4, newest pair first in the first loop; q and the
        products in the kept scratch arrays."""
        q, tmp, al = self.q, self.tmp, [0.0] * self.count     # Python floats: products stay in x's dtype
        np.negative(grad, out=q)
        for i in range(self.count - 1, -1, -1):
            k = self._slot(i)
            al[i] = float(self._S[k] @ q) * float(self._rho[k])
            q -= np.multiply(al[i], self._Y[k], out=tmp)
        r = np.multiply(q, self.H_diag, out=out)
        for i in range(self.count):
            k = self._slot(i)
            be_i = float(self._Y[k] @ r) * float(self._rho[k])
            r += np.multiply(al[i] - be_i, self._S[k], out=tmp)
        return r

    def _strong_wolfe(self, at, t, d, f, g, gtd):
        """(loss, gradient, step) at a step satisfying the strong Wolfe conditions (N&W Alg. 3.5
        bracketing, Alg. 3.6 zoom by cubic interpolation), as torch.optim.lbfgs._strong_wolfe."""
        c1, c2, max_ls, tol = self.c1, self.c2, self.line_search, self.tolerance_change
        d_norm = self._max_abs(d)
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
            f_new, g_new = at(t, g_prev)
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
            f_new, g_new = at(t, *bg)
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
        self.H_diag, self.step_len, self.loss_now = (float(saved[k]) for k in ("H_diag", "step_len", "loss_now"))
        self.head = self.count = 0
        if not saved["g_now"].size:
            self.d = self.g_prev = self.g_now = None
            return
        self._allocate(saved["g_now"].size, saved["g_now"].dtype)
        for name in ("d", "g_prev", "g_now"):
            np.copyto(getattr(self, name), saved[name])
        self.count = len(saved["rho"])          # oldest first, from slot 0
        self._S[:self.count], self._Y[:self.count] = saved["S"], saved["Y"]
        self._rho[:self.count] = saved["rho"]


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
