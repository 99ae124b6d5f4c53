"""The docs that quote optlab's numbers, rendered from docs/gallery/results.json (benchmarks/gallery.py).

Two kinds of output:

- ``docs/gallery.md``, written whole: one entry per figure-recipe (question, source, command,
  figure, optlab's numbers next to the published ones, one paragraph);
- blocks inside README.md and docs/*.md, between ``<!-- gallery:KEY -->`` and
  ``<!-- /gallery:KEY -->``: everything between the markers is rendered by ``BLOCKS[KEY]``.

A number optlab produced appears in the docs only through these renderers, so :func:`stale`
(re-render, compare with the files) is the test that the docs quote exactly what results.json
holds. The prose around each number is written so that it stays true whatever the number; where a
sentence depends on an order (gradient above local above random), the renderer says what the
numbers show instead of asserting it.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GALLERY_MD = REPO / "docs" / "gallery.md"
RERUN = "python benchmarks/gallery.py --only {name}"


def pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def num(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}g}"


def _missing(name: str) -> str:
    return f"*not yet run: `{RERUN.format(name=name)}`*"


def _variants(results: dict, name: str) -> dict | None:
    entry = results.get(name)
    return entry.get("variants") if entry else None


# ------------------------------------------------------------------------------------------------
# tables quoted in README.md and docs/
# ------------------------------------------------------------------------------------------------
def runs_table(results: dict) -> str:
    rows = ["| recipe | question | validation (peak) | test | notes |", "|---|---|---|---|---|"]
    for name, question, note in (("quickstart", "can a 100-unit ReLU MLP separate the spiral?", "Adam"),
                                 ("spiral_linear", "can a linear softmax classifier?", "CS231n reports 49 %")):
        r = results.get(name)
        rows.append(f"| `{name}` | {question} | " + (f"{pct(r.get('val_final'))} ({pct(r.get('val_peak'))}) | "
                                                    f"{pct(r.get('test_final'))} | {note} |" if r else
                                                    f"{_missing(name)} | | |"))
    v = _variants(results, "nielsen_slowdown")
    if v:
        q, c = v["quadratic"]["cost_at_epoch"], v["binary_cross_entropy"]["cost_at_epoch"]
        rows.append(f"| `nielsen_slowdown` | Nielsen's neuron, w = b = 2: quadratic vs cross-entropy cost | — | — | "
                    f"quadratic: cost {num(q['0'])} → {num(q['100'])} after 100 epochs, {num(q['300'])} after 300; "
                    f"cross-entropy: {num(c['0'])} → {num(c['100'])}, {num(c['300'])} |")
    v = _variants(results, "mnist_mlp")
    if v:
        s = v["sgd"]
        rows.append(f"| `mnist_mlp` (sgd) | DLFS's MLP (784-100×4-10, He, batch 128, 2000 steps), SGD 0.01 | "
                    f"{pct(s.get('val_final'))} ({pct(s.get('val_peak'))}) | {pct(s.get('test_final'))} | |")
    v = _variants(results, "nielsen_overfit")
    if v:
        for label, what, published in (("0", "784-30-10 sigmoid, 1 000 images, 400 epochs, no penalty", "82.27 %"),
                                        ("1.0e-4", "the same with λ = 0.1 (`l2: 1.0e-4`)", "87.1 %")):
            s = v.get(label, {})
            rows.append(f"| `nielsen_overfit` (l2 {label}) | {what} | — | {pct(s.get('val_peak'))} peak | "
                        f"evaluated on test each epoch, as Nielsen; he reports {published} |")
    return "\n".join(rows)


HIKER = (("random", "random search", "≈ 15.5 %"), ("local", "random local search", "≈ 21.4 %"),
         ("gradient", "gradient (mini-batch SGD)", "≈ 35–39 % (validation)"))


def hiker_table(results: dict) -> str:
    v = _variants(results, "hiker")
    if not v:
        return _missing("hiker")
    rows = ["| strategy | examples forwarded | MNIST validation | MNIST test | CIFAR-10 test (CS231n) |",
            "|---|---|---|---|---|"]
    for key, what, published in HIKER:
        s = v[key]
        rows.append(f"| {what} | {s.get('loss_eval_examples', 0):,} | {pct(s.get('val_final'))} | "
                    f"{pct(s.get('test_final'))} | {published} |".replace(",", " "))
    order = sorted(v, key=lambda k: v[k].get("test_final") or 0, reverse=True)
    rows.append("")
    rows.append(f"Ranked by test accuracy: {' > '.join(order)}; the gradient used "
                f"{v['random']['loss_eval_examples'] / v['gradient']['loss_eval_examples']:.0f}× fewer examples "
                f"than random search.")
    return "\n".join(rows)


def optimizers_table(results: dict) -> str:
    v = _variants(results, "mnist_mlp")
    if not v:
        return _missing("mnist_mlp")
    rows = ["| optimizer | final train loss | validation (peak) | test |", "|---|---|---|---|"]
    for label, s in v.items():
        rows.append(f"| {label} | {num(s.get('final_train_loss'))} | {pct(s.get('val_final'))} "
                    f"({pct(s.get('val_peak'))}) | {pct(s.get('test_final'))} |")
    return "\n".join(rows)


def bowl_sentence(results: dict) -> str:
    v = _variants(results, "bowl")
    if not v:
        return _missing("bowl")
    closest = min(v, key=lambda k: v[k]["distance_to_minimum"])
    others = ", ".join(f"{k} {v[k]['distance_to_minimum']:.2f}" for k in v if k != closest)
    return (f"On the bowl f = x²/20 + y² from (−7, 2), 30 steps at DLFS's rates (the `bowl` recipe), "
            f"{closest} ends closest to the minimum ({v[closest]['distance_to_minimum']:.2f} away; {others}).")


def _gap(s: dict) -> float:
    return 100 * (s["train_final"] - s["val_final"])


def techniques_rows(results: dict) -> list[tuple[str, str, str]]:
    """(experiment, what DLFS shows, what optlab shows) for each DLFS ch. 6 technique recipe."""
    out = []
    v = _variants(results, "dlfs_weight_init")
    out.append(("weight init (`dlfs_weight_init`)", "std 0.01 does not learn; Xavier and He do, He fastest (fig. 6-15)",
                _missing("dlfs_weight_init") if not v else "; ".join(
                    f"{k}: loss {num(s.get('final_train_loss'))}, validation {pct(s.get('val_final'))}"
                    for k, s in v.items()) + " after 2 000 steps"))
    r = results.get("dlfs_batch_norm")
    if r:
        def learned(bn):
            ts = [t for t in r["trials"] if t["values"].get("model.batch_norm") is bn]
            ok = [t for t in ts if t.get("status") == "completed" and (t.get("val_final") or 0) > 0.2]
            div = [t for t in ts if t.get("status") == "diverged"]
            best = max((t.get("val_final") or 0 for t in ts), default=0)
            return len(ok), len(ts), len(div), best
        on, off = learned(True), learned(False)
        text = (f"with BN {on[0]} of {on[1]} scales learn (validation > 20 %; best {pct(on[3])}); without, "
                f"{off[0]} of {off[1]} (best {pct(off[3])}), {off[2]} diverge")
    else:
        text = _missing("dlfs_batch_norm")
    out.append(("batch norm (`dlfs_batch_norm`)", "with BN almost every scale learns in 20 epochs, without it a "
                                                  "narrow band (fig. 6-18)", text))
    for name, what, published, labels in (
            ("dlfs_weight_decay", "weight decay λ = 0.1 (300 images, 7 layers)",
             "λ = 0.1 keeps training accuracy below 100 % and narrows the train–test gap (figs. 6-20, 6-21)", ("0", "0.1")),
            ("dlfs_dropout", "dropout 0.2", "dropout narrows the gap (fig. 6-23)", ("0", "0.2"))):
        v = _variants(results, name)
        if v:
            a, b = v[labels[0]], v[labels[1]]
            text = (f"without: train {pct(a['train_final'])}, test {pct(a['val_final'])}, gap {_gap(a):.1f} points; "
                    f"with: train {pct(b['train_final'])}, test {pct(b['val_final'])}, gap {_gap(b):.1f} points")
        else:
            text = _missing(name)
        out.append((f"{what} (`{name}`)", published, text))
    r = results.get("dlfs_hyperparameter_search")
    if r:
        ranked = sorted((t for t in r["trials"] if t.get("val_final") is not None),
                        key=lambda t: t["val_final"], reverse=True)[:5]
        lrs = [t["values"]["optimizer.lr"] for t in ranked]
        text = (f"best five {pct(ranked[-1]['val_final'])}–{pct(ranked[0]['val_final'])}, lr {min(lrs):.2g}–"
                f"{max(lrs):.2g}; every trial keeps seed 0, so they differ only in lr and λ (DLFS's also in "
                f"their initial weights)")
    else:
        text = _missing("dlfs_hyperparameter_search")
    out.append(("100-trial search (`dlfs_hyperparameter_search`)",
                "best trials ≈ 75–83 % validation accuracy, lr ≈ 1e-3–1e-2, weight decay ≈ 1e-8–1e-6 (fig. 6-24)", text))
    return out


def techniques_table(results: dict) -> str:
    rows = ["| experiment | DLFS shows | optlab shows |", "|---|---|---|"]
    rows += [f"| {a} | {b} | {c} |" for a, b, c in techniques_rows(results)]
    return "\n".join(rows)


def compare_example(results: dict) -> str:
    r = results.get("quickstart_optimizers")
    return r["table"] if r else _missing("quickstart_optimizers")


def datasets_table(results: dict) -> str:
    rows = ["| recipe | what | result |", "|---|---|---|"]
    v = _variants(results, "mnist_mlp")
    rows.append("| `mnist_mlp` | DLFS ch. 6: 784-100-100-100-100-10 ReLU, He init, SGD, batch 128, 2000 steps | "
                + (f"{pct(v['sgd'].get('test_final'))} test (SGD) |" if v else f"{_missing('mnist_mlp')} |"))
    v = _variants(results, "nielsen_overfit")
    for label, what, published in (("0", "Nielsen ch. 3: 784-30-10 sigmoid, cross-entropy, first 1 000 images, η 0.5, "
                                         "400 epochs", "82.27 %"),
                                   ("1.0e-4", "the same with λ = 0.1, i.e. `l2: 1.0e-4` (λ/n with n = 1 000)", "87.1 %")):
        value = f"peak {pct(v[label].get('val_peak'))} on test (Nielsen {published})" if v else _missing("nielsen_overfit")
        rows.append(f"| `nielsen_overfit` (l2 {label}) | {what} | {value} |")
    rows.append("| `cifar10_svm`, `cifar10_softmax` | CS231n assignment 1: linear SVM / softmax on centred raw pixels, "
                "batch 200, reg 2.5e4 (`l2: 5.0e4`) | not run yet: CIFAR-10 was not available on the development "
                "machines |")
    return "\n".join(rows)


from gallery_optimizers import full_batch_table, modern_table  # noqa: E402  (it formats with pct and num above)

BLOCKS = {
    "modern-optimizers": modern_table, "full-batch": full_batch_table,
    "runs": runs_table, "hiker": hiker_table, "optimizers": optimizers_table, "bowl": bowl_sentence,
    "techniques": techniques_table, "compare-example": compare_example, "datasets": datasets_table,
}
_BLOCK = re.compile(r"(<!-- gallery:([a-z-]+) -->\n)(.*?)(<!-- /gallery:\2 -->)", re.S)


def render_blocks(text: str, results: dict) -> str:
    def one(m: re.Match) -> str:
        key = m.group(2)
        if key not in BLOCKS:
            raise KeyError(f"unknown gallery block {key!r} (known: {', '.join(BLOCKS)})")
        return f"{m.group(1)}{BLOCKS[key](results)}\n{m.group(4)}"
    return _BLOCK.sub(one, text)


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted(p for p in (REPO / "docs").glob("*.md") if p != GALLERY_MD)]


def rendered(results: dict) -> dict[Path, str]:
    """Every generated file's text: docs/gallery.md whole, the others with their blocks filled."""
    from gallery_page import page

    out = {GALLERY_MD: page(results)}
    for path in doc_files():
        text = path.read_text(encoding="utf-8")
        if "<!-- gallery:" in text:
            out[path] = render_blocks(text, results)
    return out


def stale(results: dict) -> list[Path]:
    """The generated files that do not match results.json."""
    return [p for p, text in rendered(results).items()
            if not p.exists() or p.read_text(encoding="utf-8") != text]


def write(results: dict) -> list[Path]:
    changed = stale(results)
    for path, text in rendered(results).items():
        if path in changed:
            path.write_text(text, encoding="utf-8")
    return changed
