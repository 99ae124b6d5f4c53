"""The gallery's blocks on the optimizers of 2016-2025 (docs/optimizers.md, docs/gallery.md):
the ``modern_optimizers`` comparison (time to 97 % on DLFS's MNIST network, each rule with its own
tuned rate) and the ``full_batch`` one (L-BFGS against gradient descent and Adam by loss
evaluations), rendered from docs/gallery/results.json (benchmarks/gallery.py's ``stats`` and
``budget`` of a comparison). Every sentence that depends on an order says what the numbers show.
"""

from __future__ import annotations

import math


def _fmt():
    from gallery_docs import _missing, num, pct
    return _missing, num, pct


def _interval(s: dict, what: str) -> str:
    def one(x):
        return "never" if x is None or math.isinf(x) else f"{x:,.0f}".replace(",", " ")
    return f"{one(s[f'{what}_to_target_median'])} [{one(s[f'{what}_to_target_low'])}, {one(s[f'{what}_to_target_high'])}]"


def _steps(s: dict) -> tuple[float, float, float]:
    return tuple(math.inf if s[f"steps_to_target_{k}"] is None else s[f"steps_to_target_{k}"]
                 for k in ("median", "low", "high"))


def modern_table(results: dict) -> str:
    _missing, num, pct = _fmt()
    r = results.get("modern_optimizers")
    if not r or "stats" not in r:
        return _missing("modern_optimizers")
    stats, budget = r["stats"], r.get("budget", {})
    target = next(iter(stats.values()))["target"]
    rows = [f"| optimizer | lr (tuned) | steps to {100 * target:.0f} % [95 % interval] | examples to {100 * target:.0f} % | "
            "seeds never reaching it | final validation | test | expected best validation: 1 tuning trial / all |",
            "|---|---|---|---|---|---|---|---|"]
    for label, s in stats.items():
        b = budget.get(label)
        tuning = f"{pct(b['k1'][0])} / {pct(b['all'][0])} ({b['trials']})" if b else "—"
        seeds = len(s["steps"])
        rows.append(f"| {label} | {num(s['lr'])} | {_interval(s, 'steps')} | {_interval(s, 'examples')} | "
                    f"{round(s['target_missed_fraction'] * seeds)} of {seeds} | {pct(s['final_val_acc_mean'])} ± "
                    f"{100 * s['final_val_acc_std']:.1f} | {pct(s['test_acc_mean'])} | {tuning} |")
    rows += ["", _verdict(stats, target)]
    return "\n".join(rows)


def _verdict(stats: dict, target: float) -> str:
    """Which rules reach the target faster or slower than Adam with intervals apart, which overlap."""
    order = sorted(stats, key=lambda k: _steps(stats[k])[0])
    out = [f"Ranked by median steps to {100 * target:.0f} %: {', '.join(order)}."]
    if "adam" in stats:
        _, a_lo, a_hi = _steps(stats["adam"])
        faster = [k for k in order if k != "adam" and _steps(stats[k])[2] < a_lo]
        slower = [k for k in order if k != "adam" and _steps(stats[k])[1] > a_hi]
        tied = [k for k in order if k != "adam" and k not in faster and k not in slower]
        out.append(f"Against the tuned Adam, with the 95 % intervals apart: faster {', '.join(faster) or 'none'}; "
                   f"slower {', '.join(slower) or 'none'}; not told apart at {len(stats['adam']['steps'])} seeds "
                   f"{', '.join(tied) or 'none'}.")
    return " ".join(out + _edges(stats))


def _edges(stats: dict) -> list[str]:
    """A rate chosen at the end of its grid: that rule's search stopped at the edge, not its best."""
    edge = [f"{k} ({'largest' if s['lr'] == max(s['lr_grid']) else 'smallest'})" for k, s in stats.items()
            if s.get("lr_grid") and s["lr"] in (min(s["lr_grid"]), max(s["lr_grid"]))]
    return [f"Chosen at the edge of its grid, so a wider search may do better: {', '.join(edge)}."] if edge else []


def full_batch_table(results: dict) -> str:
    _missing, num, pct = _fmt()
    r = results.get("full_batch")
    if not r or "stats" not in r:
        return _missing("full_batch")
    stats = r["stats"]
    rows = ["| optimizer | lr (tuned) | steps (each seed) | loss evaluations (each seed) | stopped by | "
            "final training loss (mean) | final validation | test |", "|---|---|---|---|---|---|---|---|"]
    for label, s in stats.items():
        why = sorted({c for c in s["converged"] if c}) or ["the step budget"]
        rows.append(f"| {label} | {num(s['lr'])} | {', '.join(map(str, s['steps']))} | "
                    f"{', '.join(map(str, s['loss_evals']))} | {', '.join(why)} | {num(s['final_train_loss_mean'])} | "
                    f"{pct(s['final_val_acc_mean'])} | {pct(s['test_acc_mean'])} |")
    low = min(stats, key=lambda k: stats[k]["final_train_loss_mean"])
    evals = {k: sum(s["loss_evals"]) / len(s["loss_evals"]) for k, s in stats.items()}
    best_val = max(stats, key=lambda k: stats[k]["final_val_acc_mean"])
    rows += ["", " ".join([f"Lowest training loss: {low} ({num(stats[low]['final_train_loss_mean'])} after {evals[low]:.0f} "
                 f"loss evaluations on average; the others' budget: "
                 + ", ".join(f"{k} {evals[k]:.0f}" for k in stats if k != low)
                 + f"). Highest final validation accuracy: {best_val}.", *_edges(stats)])]
    return "\n".join(rows)
