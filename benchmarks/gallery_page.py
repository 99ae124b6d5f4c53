"""docs/gallery.md: one entry per figure-recipe, rendered from docs/gallery/results.json.

Each entry: the question (the recipe's header), the source (book, chapter, figure), the command
(the recipe's own), the figure (docs/gallery/NAME.png, made by benchmarks/gallery.py), optlab's
numbers next to the published ones, and one paragraph. The paragraphs say what the figure shows
in words that hold whatever the exact numbers; the numbers come from results.json only.
"""

from __future__ import annotations

from gallery_docs import _missing, hiker_table, num, pct, techniques_rows
from gallery_optimizers import full_batch_table, modern_table

from optlab.config.recipes import find

# name -> (title, source, published, paragraph)
ENTRIES = {
    "mnist_mlp": (
        "SGD, Momentum, AdaGrad and Adam on MNIST",
        "Deep Learning from Scratch (Saito), ch. 6, fig. 6-9",
        "curves only: SGD clearly the slowest, AdaGrad the fastest, Momentum and Adam close behind",
        "The five-layer ReLU network of DLFS, 2 000 steps of batch 128, each optimizer at DLFS's default rate, "
        "the same initial weights and mini-batches for all. Plain SGD is the slowest by a wide margin; the "
        "adaptive methods and Momentum bunch together, as in the book's figure."),
    "dlfs_weight_init": (
        "Weight initialisation decides whether a deep ReLU net learns",
        "Deep Learning from Scratch, ch. 6, figs. 6-13 to 6-15",
        "std 0.01: the loss stays at ln 10 ≈ 2.30; Xavier and He both learn, He fastest",
        "With N(0, 0.01²) weights the signal shrinks layer by layer (each trial's activations.png), the gradients "
        "vanish with it and the loss sits at ln 10. Xavier (Glorot's form, docs/conventions.md) and He keep the "
        "spread and learn."),
    "dlfs_batch_norm": (
        "Batch norm across 16 weight scales",
        "Deep Learning from Scratch, ch. 6, fig. 6-18",
        "with batch norm almost every scale learns within 20 epochs; without it a narrow band",
        "32 trials, weight std from 1 to 1e-4, with and without batch norm. The scatter shows validation accuracy "
        "against the scale: with batch norm the accuracy barely depends on it, without it only a band of scales "
        "learns while large ones explode and small ones stay at chance."),
    "dlfs_weight_decay": (
        "Weight decay on an overfitting net",
        "Deep Learning from Scratch, ch. 6, figs. 6-20 and 6-21",
        "without decay: training accuracy 100 %, a wide gap to test; with λ = 0.1 the gap narrows",
        "Seven layers on 300 images overfit: training accuracy reaches 100 % while the test accuracy (plotted as "
        "validation: `val_from: test`, as the book's figure) stays far below. The L2 penalty holds training "
        "accuracy down and the gap narrows."),
    "dlfs_dropout": (
        "Dropout on an overfitting net",
        "Deep Learning from Scratch, ch. 6, fig. 6-23",
        "with dropout 0.2 the training and test curves stay closer",
        "The same overfitting net with inverted dropout (docs/conventions.md). Dropout slows the fit of the 300 "
        "training images; the table gives the gap with and without it."),
    "dlfs_hyperparameter_search": (
        "Random search over learning rate and weight decay",
        "Deep Learning from Scratch, ch. 6, fig. 6-24",
        "the best trials reach about 75–83 % validation accuracy, with lr ≈ 1e-3–1e-2 and λ ≈ 1e-8–1e-6",
        "100 trials, lr = 10^U(−6, −2), λ = 10^U(−8, −4). The scatter shows that the learning rate decides: the "
        "trials that learn in 50 epochs have the largest rates of the range; the weight decay shows no trend over "
        "its range."),
    "nielsen_slowdown": (
        "The learning slowdown: quadratic vs cross-entropy cost",
        "Nielsen, Neural Networks and Deep Learning, ch. 3, \"The learning slowdown\" and \"Introducing the "
        "cross-entropy cost function\"",
        "from w = b = 2 (output 0.98, target 0), the quadratic cost is nearly flat for about 150 epochs; "
        "cross-entropy falls at once",
        "One sigmoid neuron, one example. Under the quadratic cost the gradient carries σ'(z), near zero when the "
        "neuron is badly wrong, so learning starts slowly; under cross-entropy it does not, and the neuron learns "
        "fastest when it is most wrong."),
    "nielsen_overfit": (
        "Overfitting on 1 000 images, and L2 regularization",
        "Nielsen, Neural Networks and Deep Learning, ch. 3, \"Overfitting and regularization\"",
        "peak test accuracy 82.27 % without regularization, 87.1 % with λ = 0.1",
        "A 784-30-10 sigmoid network, 400 epochs on 1 000 images, evaluated on the 10 000 test images each epoch "
        "as Nielsen does. Without a penalty the test accuracy stalls while the training cost keeps falling; with "
        "λ = 0.1 it keeps rising."),
    "hiker": (
        "The blindfolded hiker: random search, random local search, the gradient",
        "CS231n, \"Optimization: Stochastic Gradient Descent\", strategies #1–#3",
        "on CIFAR-10: about 15.5 % (random), 21.4 % (local), 35–39 % (gradient, assignment 1)",
        "One linear SVM on MNIST, each strategy with its own settings (`compare.variants` in the recipe), on one "
        "x-axis: examples forwarded, what each strategy really pays (1 000 whole-set evaluations of 49 000 images "
        "for the two searches, 1 500 batches of 200 for the gradient; log scale)."),
    "bowl": (
        "Four optimizers on an elongated bowl",
        "Deep Learning from Scratch, ch. 6, fig. 6-8",
        "SGD zig-zags, Momentum rolls like a ball, AdaGrad and Adam head almost straight in",
        "f = x²/20 + y² from (−7, 2), 30 steps at DLFS's rates. The steep y direction makes SGD zig-zag while it "
        "crawls along x; Momentum overshoots and swings back; AdaGrad and Adam rescale each coordinate."),
    "rosenbrock": (
        "Rosenbrock's valley",
        "H. H. Rosenbrock, Computer Journal 3 (1960); the classic start (−1.2, 1)",
        "the minimum is f(1, 1) = 0",
        "500 steps, each optimizer near the largest rate it takes without leaving the valley. With optlab's default "
        "rates instead (`optlab compare sgd momentum rmsprop nesterov --config rosenbrock`) some diverge: their "
        "paths are drawn up to where they leave the view and marked ×."),
    "saddle": (
        "Escaping a saddle point",
        "CS231n, \"Neural Networks 3\", per-parameter adaptive learning rates (the saddle animation)",
        "SGD and Momentum linger at the saddle; the adaptive methods escape",
        "f = x² − y² from (1.5, 0.001): the gradient along y is tiny, so SGD and Momentum slide into the saddle "
        "point; AdaGrad and Adam divide each coordinate's step by its own gradient scale and walk off downhill."),
    "modern_optimizers": (
        "The optimizers of 2016-2025 against a tuned Adam, on DLFS's MNIST network",
        "AlgoPerf (Dahl et al. 2023; Kasimbeg et al. 2025); Schmidt, Schneider and Hennig, ICML 2021",
        "AlgoPerf v0.5: Schedule-Free AdamW 0.85 against the NAdamW baseline's 0.82 (self-tuning), large "
        "workloads; Schmidt et al., over 50 000 runs: no optimizer consistently beats a tuned Adam",
        "Nine rules on the network of `mnist_mlp`, each with 9 learning rates around its own default (the same "
        "tuning budget for each), then 5 seeds at the chosen rate, the same initial weights and mini-batches for "
        "all. The figure is validation accuracy against steps, the target dashed; the table gives the time to it "
        "with a bootstrap interval over seeds, and docs/optimizers.md what it says about the published rankings."),
    "full_batch": (
        "L-BFGS where it belongs: the whole training set every step",
        "Nocedal & Wright, Numerical Optimization (2006), Alg. 7.4 and 3.5; the network of Nielsen ch. 3",
        "quasi-Newton methods reach a far lower training loss than first-order ones on smooth deterministic "
        "problems, per evaluation (Nocedal & Wright ch. 7)",
        "Nielsen's 784-30-10 network on 1 000 images, every step on all of them, each rule's rate tuned as in "
        "`modern_optimizers`. The x-axis is loss evaluations, what each rule pays: an L-BFGS step evaluates the "
        "loss once per line-search trial, and a run stops when torch's tolerances say it has converged."),
}
ORDER = ["mnist_mlp", "dlfs_weight_init", "dlfs_batch_norm", "dlfs_weight_decay", "dlfs_dropout",
         "dlfs_hyperparameter_search", "nielsen_slowdown", "nielsen_overfit", "hiker", "bowl", "rosenbrock", "saddle",
         "modern_optimizers", "full_batch"]


def numbers(name: str, results: dict) -> str:
    """optlab's numbers for one entry, as Markdown."""
    r = results.get(name)
    if not r:
        return _missing(name)
    if name == "hiker":
        return hiker_table(results)
    if name == "modern_optimizers":
        return modern_table(results)
    if name == "full_batch":
        return full_batch_table(results)
    if name.startswith("dlfs_") and name != "dlfs_weight_init":
        row = {"dlfs_batch_norm": 1, "dlfs_weight_decay": 2, "dlfs_dropout": 3, "dlfs_hyperparameter_search": 4}[name]
        return "optlab: " + techniques_rows(results)[row][2] + "."
    if name == "nielsen_slowdown":
        rows = ["| cost | at epoch 0 | 100 | 300 |", "|---|---|---|---|"]
        for label, v in r["variants"].items():
            c = v["cost_at_epoch"]
            rows.append(f"| {label} | {num(c['0'])} | {num(c['100'])} | {num(c['300'])} |")
        return "\n".join(rows)
    if name == "nielsen_overfit":
        rows = ["| regularization.l2 | peak test accuracy | final training accuracy | Nielsen (peak) |",
                "|---|---|---|---|"]
        for label, published in (("0", "82.27 %"), ("1.0e-4", "87.1 %")):
            v = r["variants"][label]
            rows.append(f"| {label} | {pct(v.get('val_peak'))} | {pct(v.get('train_final'))} | {published} |")
        return "\n".join(rows)
    return r.get("table") or _missing(name)


def page(results: dict) -> str:
    out = ["# Gallery: the classic figures, re-made by optlab", "",
           "Each entry is one recipe: `optlab recipes show NAME` prints it, its command re-makes the figure. "
           "Every number here was produced by `python benchmarks/gallery.py` (seed 0, genuine MNIST) and is kept "
           "in [gallery/results.json](gallery/results.json); this page, the result tables of README.md and the "
           "tables in docs/*.md are rendered from that file, and `tests/test_gallery.py` fails when they disagree "
           "with it or when a cheap recipe no longer gives the same numbers.", ""]
    out += [f"- [{ENTRIES[n][0]}](#{n.replace('_', '-')}) (`{n}`)" for n in ORDER]
    for name in ORDER:
        title, source, published, paragraph = ENTRIES[name]
        recipe = find(name)
        out += ["", f"## {name.replace('_', '-')}", "", f"**{title}**", "",
                f"- **Question:** {recipe.headline}", f"- **Source:** {source}",
                f"- **Command:** `{recipe.command}`", f"- **Published:** {published}", ""]
        out += [f"![{title}](gallery/{name}.png)" if name in results else _missing(name), ""]
        out += [numbers(name, results), "", paragraph]
    return "\n".join(out) + "\n"
