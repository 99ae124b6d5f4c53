"""The everyday loop against its goals, each measured as a ratio in one run (docs/performance.md,
"The everyday loop"):

1. ``optlab train quickstart``, the whole process, against the run's own training wall time
   (summary.json ``wall_time_s``): goal <= 3x.
2. ``optlab report RUN_DIR`` of that run against a bare ``python -c "import matplotlib.pyplot"``
   process plus the figures' own drawing (the ``savefig`` calls, timed inside a process that runs
   the same report): goal <= 1.5x, and no figure drawn twice.
3. Study start-up: ``optlab sweep quickstart`` of N trials on --workers processes against
   N x (mean trial training / workers) x 1.1: goal <= 2 s of overhead, for two values of N; the same
   for an Optuna sweep in waves of --workers trials and a comparison with --tune lr (several maps
   on one pool). Each with where its time went (:func:`timeline`).
4. ``optlab landscape`` 41 x 41 slice of the MNIST MLP over 5 000 examples (needs
   OPTLAB_DATA_DIR with mnist/): goal <= 10 s wall.
5. ``optlab --help``: goal < 0.3 s.

    python benchmarks/everyday.py                   # 1-3 and 5
    OPTLAB_DATA_DIR=<folder with mnist/> python benchmarks/everyday.py --parts 1,2,3,4,5
    python benchmarks/everyday.py --parts 1 --repeat 5 --overlap --drawing   # options weighed for part 1

Medians of --repeat runs; the load average is printed with each part, since on a shared machine
the wall times are the machine's as much as optlab's. optlab's modules are byte-compiled first, as
an installed package is: without its ``__pycache__`` (a checkout run with PYTHONDONTWRITEBYTECODE)
every optlab process would also compile optlab's sources, ~0.1 s that a user does not pay. Part 1
also splits one train process into where its time goes (imports, training, matplotlib, drawing).
Not a test.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTLAB = [sys.executable, "-m", "optlab"]
# Runs the report inside this process with every savefig timed; prints {"savefig_s", "draws"}.
TIMED_REPORT = """
import json, sys, time
from matplotlib.figure import Figure
spent, draws = [0.0], []
real = Figure.savefig
def timed(self, fname, *a, **k):
    t = time.perf_counter()
    try:
        return real(self, fname, *a, **k)
    finally:
        spent[0] += time.perf_counter() - t
        draws.append(str(getattr(fname, "name", fname)))
Figure.savefig = timed
from optlab.cli import main
sys.argv = ["optlab", "report", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
print(json.dumps({"savefig_s": spent[0], "draws": len(draws)}), file=sys.stderr)
"""


# Runs `optlab train quickstart` inside this process and prints, as JSON on stderr, the seconds
# from the script's start to each point: "cli" (optlab.cli imported), "render_start" / "render_end"
# (around the run's report, optlab.record.run_report.render_run), "end"; and the seconds spent
# importing matplotlib (timed first thing in the report, where the command would import it) and
# inside Figure.savefig (drawing and encoding the figure files).
TIMED_TRAIN = """
import json, sys, time
now = time.perf_counter
t0, marks = now(), {"savefig": 0.0}
from optlab.cli import main
marks["cli"] = now() - t0
import optlab.record.run_report as report
real_render = report.render_run
def render_run(*a, **k):
    marks["render_start"] = now() - t0
    t = now()
    from matplotlib.backends import backend_agg
    from matplotlib.figure import Figure
    marks["matplotlib"] = now() - t
    real_save = Figure.savefig
    def savefig(self, *sa, **sk):
        t = now()
        try:
            return real_save(self, *sa, **sk)
        finally:
            marks["savefig"] += now() - t
    Figure.savefig = savefig
    try:
        return real_render(*a, **k)
    finally:
        Figure.savefig = real_save
        marks["render_end"] = now() - t0
report.render_run = render_run
sys.argv = ["optlab", "train", "quickstart", "--runs-dir", sys.argv[1], "--quiet"]
try:
    main()
except SystemExit:
    pass
marks["end"] = now() - t0
print(json.dumps(marks), file=sys.stderr)
"""


# `optlab train quickstart` with the report's matplotlib started while the run trains (when the run
# enters optlab.training.run.limited, around its loop): "thread" imports matplotlib on a second
# thread of the process; "fork" forks a child that imports it, waits, and draws the whole report
# (run_report.render_run) when the run hands it over, the parent waiting for it as it would for
# its own drawing. Neither is what optlab does: measured to weigh them (docs/performance.md).
OVERLAP = """
import os, sys, threading
mode = sys.argv[1]
from optlab.cli import main
import optlab.record.run_report as report
import optlab.training.run as run
real_limited, real_render, child = run.limited, report.render_run, {}
def plotting():
    from matplotlib.backends import backend_agg
    from matplotlib.figure import Figure
def limited(*a, **k):
    if mode == "thread":
        threading.Thread(target=plotting, daemon=True).start()
    elif mode == "fork" and not child:
        go, hand = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(hand)
            plotting()
            order = os.read(go, 4096).decode()
            if not order:
                os._exit(0)
            quiet, path = order.split(" ", 1)
            try:
                real_render(path, quiet=quiet == "1")
            except BaseException:
                os._exit(1)
            os._exit(0)
        os.close(go)
        child.update(pid=pid, hand=hand)
    return real_limited(*a, **k)
def render_run(path, quiet=False, **k):
    if not child or k:
        return real_render(path, quiet=quiet, **k)
    os.write(child["hand"], f"{int(quiet)} {path}".encode())
    os.close(child["hand"])
    _, status = os.waitpid(child.pop("pid"), 0)
    if status != 0:
        raise RuntimeError("the forked report failed")
run.limited, report.render_run = limited, render_run
sys.argv = ["optlab", "train", "quickstart", "--runs-dir", sys.argv[2], "--quiet"]
main()
"""


# Draws a run's report (run_report.render_run) keeping each figure, then saves each figure again as
# a PNG three ways, best of 3 each: as drawn (its own layout engine), with no layout engine (the
# positions constrained layout found, kept), and at PNG compression level 1; prints
# {variant: [seconds, bytes]} summed over the figures, on stderr.
DRAWING = """
import io, json, sys, time
from matplotlib.figure import Figure
real, kept = Figure.savefig, []
def keep(self, *a, **k):
    if all(f is not self for f, _ in kept):
        kept.append((self, self.get_layout_engine()))
    return real(self, *a, **k)
Figure.savefig = keep
from optlab.record.run_report import render_run
render_run(sys.argv[1])
Figure.savefig = real
def save(fig, **kw):
    best, size = 1e9, 0
    for _ in range(3):
        buf = io.BytesIO()
        t = time.perf_counter()
        fig.savefig(buf, format="png", dpi=120, metadata=None, **kw)
        best, size = min(best, time.perf_counter() - t), len(buf.getvalue())
    return best, size
out = {}
for variant in ("as drawn", "no layout engine", "PNG compression level 1"):
    total = [0.0, 0]
    for fig, engine in kept:
        fig.set_layout_engine(engine if variant != "no layout engine" else "none")
        seconds, size = save(fig, **({"pil_kwargs": {"compress_level": 1}} if variant.startswith("PNG") else {}))
        total[0] += seconds
        total[1] += size
    out[variant] = total
print(json.dumps(out), file=sys.stderr)
"""


def wall(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def row(what: str, measured: str, ratio: float, goal: float, unit: str = "x") -> None:
    verdict = "met" if ratio <= goal else "NOT met"
    print(f"| {what} | {measured} | {ratio:.2f}{unit} | <= {goal:g}{unit} | {verdict} |", flush=True)


def part_train(tmp: Path, repeat: int) -> Path:
    walls, trains, last = [], [], None
    for _ in range(repeat):
        seconds, done = wall([*OPTLAB, "train", "quickstart", "--runs-dir", str(tmp / "runs"), "--quiet"])
        last = Path(done.stdout.strip().splitlines()[-1])
        trains.append(json.loads((last / "summary.json").read_text())["wall_time_s"])
        walls.append(seconds)
    w, t = statistics.median(walls), statistics.median(trains)
    row(f"train quickstart, whole process ({load()})", f"{w:.2f} s against {t:.2f} s of training", w / t, 3)
    # what a process pays before and besides training: its imports, without and with matplotlib
    for what in ("import optlab.training.run", "import optlab.training.run, matplotlib.pyplot"):
        seconds = statistics.median(wall([sys.executable, "-c", what])[0] for _ in range(repeat))
        print(f"| `python -c \"{what}\"` | {seconds:.2f} s | {seconds / t:.2f}x the training | | |")
    splits = []
    for _ in range(repeat):
        seconds, done = wall([sys.executable, "-c", TIMED_TRAIN, str(tmp / "timed")])
        run_dir = Path(done.stdout.strip().splitlines()[-1])
        marks = json.loads(done.stderr.strip().splitlines()[-1])
        splits.append(breakdown(seconds, marks, json.loads((run_dir / "summary.json").read_text())["wall_time_s"]))
    print(f"\nWhere one train quickstart process spends its time (medians of {repeat}, {load()}):\n")
    print("| part of the process | seconds | x the training |\n|---|---|---|")
    train = statistics.median(s["training"] for s in splits)
    for part in splits[0]:
        seconds = statistics.median(s[part] for s in splits)
        print(f"| {part} | {seconds:.3f} | {seconds / train:.2f}x |")
    print()
    return last


def part_overlap(tmp: Path, repeat: int) -> None:
    """The train command as it is, and with matplotlib started during training (OVERLAP), runs
    interleaved: whole process and training wall times, medians of ``repeat``."""
    modes = {"as it is": None, "matplotlib imported on a thread during training": "thread",
             "the report drawn by a child forked at training's start": "fork"}
    walls = {m: [] for m in modes}
    trains = {m: [] for m in modes}
    for _ in range(repeat):
        for what, mode in modes.items():
            cmd = [*OPTLAB, "train", "quickstart", "--runs-dir", str(tmp / "overlap"), "--quiet"] if mode is None \
                else [sys.executable, "-c", OVERLAP, mode, str(tmp / "overlap")]
            seconds, done = wall(cmd)
            run_dir = Path(done.stdout.strip().splitlines()[-1])
            assert len(list(run_dir.glob("*.png"))) == 4 and (run_dir / "report.html").is_file(), run_dir
            walls[what].append(seconds)
            trains[what].append(json.loads((run_dir / "summary.json").read_text())["wall_time_s"])
    print(f"\nThe train command with matplotlib started while the run trains (medians of {repeat}, {load()}):\n")
    print("| train quickstart | whole process | training |\n|---|---|---|")
    for what in modes:
        print(f"| {what} | {statistics.median(walls[what]):.2f} s | {statistics.median(trains[what]):.2f} s |")
    print()


def part_drawing(run_dir: Path) -> None:
    """The run's figures saved as drawn, without their layout engine, and at PNG level 1 (DRAWING)."""
    _, done = wall([sys.executable, "-c", DRAWING, str(run_dir)])
    out = json.loads(done.stderr.strip().splitlines()[-1])
    print(f"\nThe run's figures saved again three ways (best of 3 each, {load()}):\n")
    print("| savefig of every figure | seconds | bytes |\n|---|---|---|")
    for variant, (seconds, size) in out.items():
        print(f"| {variant} | {seconds:.3f} | {size} |")
    print()


def breakdown(whole: float, marks: dict, training: float) -> dict[str, float]:
    """One timed train process (TIMED_TRAIN's ``marks``, its whole wall time and its training's
    wall time) split into parts that add up to ``whole``."""
    render = marks["render_end"] - marks["render_start"]
    return {
        "Python start-up and exit": whole - marks["end"],
        "import optlab.cli (typer, the commands)": marks["cli"],
        "imports and set-up around the training (config, pydantic, rich, data, run directory)":
            marks["render_start"] - marks["cli"] - training,
        "training": training,
        "import matplotlib (Figure, Agg)": marks["matplotlib"],
        "drawing and encoding the figure files (savefig)": marks["savefig"],
        "building the figures, report.html, results.md": render - marks["matplotlib"] - marks["savefig"],
        "the results table, exit": marks["end"] - marks["render_end"],
        "whole process": whole,
    }


def part_report(run_dir: Path, repeat: int) -> None:
    bare = statistics.median(wall([sys.executable, "-c", "import matplotlib.pyplot"])[0] for _ in range(repeat))
    walls, drawing, draws = [], [], 0
    for _ in range(repeat):
        walls.append(wall([*OPTLAB, "report", str(run_dir)])[0])
        _, done = wall([sys.executable, "-c", TIMED_REPORT, str(run_dir)])
        timed = json.loads(done.stderr.strip().splitlines()[-1])
        drawing.append(timed["savefig_s"])
        draws = timed["draws"]
    figures = len([p for p in run_dir.rglob("*.png")])
    w, d = statistics.median(walls), statistics.median(drawing)
    row(f"report RUN_DIR ({load()}; {draws} draws for {figures} figure files)",
        f"{w:.2f} s against {bare:.2f} s bare import + {d:.2f} s of drawing", w / (bare + d), 1.5)


def part_sweep(tmp: Path, workers: int, sizes: list[int]) -> None:
    n, lr = max(sizes), "optimizer.lr=log:0.001:0.1"
    grid = max(2, n // 2 - 1)     # 2 variants x grid rates, then their 2 final trials: n trials (at least 6)
    studies = [*((f"sweep of {k} trials", ["sweep", "quickstart", lr, "--trials", str(k)]) for k in sizes),
               (f"Optuna sweep of {n} trials, waves of {workers}",   # needs the tune extra (optuna)
                ["sweep", "quickstart", lr, "--trials", str(n), "--sampler", "random"]),
               (f"comparison sgd/adam, --tune lr over {grid} rates ({2 * grid} + 2 trials)",
                ["compare", "sgd", "adam", "--config", "quickstart", "--tune", "lr", "--lr-grid", f"1e-3:1e-1:{grid}",
                 "--no-trial-figures"])]
    for k, (what, words) in enumerate(studies):
        out, started = tmp / f"study{k}", time.time()
        seconds, _ = wall([*OPTLAB, *words, "-j", str(workers), "--runs-dir", str(out), "--quiet"])
        phases = timeline(out, started, started + seconds)
        ideal = phases["trained"] / workers * 1.1
        row(f"{what}, {workers} workers ({load()})", f"{seconds:.2f} s against {ideal:.2f} s of training",
            seconds - ideal, 2, " s over")
        print(f"| ... of which | start-up to the study's directory {phases['start']:.2f} s, to the first trial "
              f"{phases['pool']:.2f} s, trials {phases['trials']:.2f} s, leaderboard {phases['leaderboard']:.2f} s, "
              f"exit {phases['exit']:.2f} s | | | |", flush=True)


def timeline(out: Path, started: float, ended: float) -> dict[str, float]:
    """Where a study's wall time went, from its files' times: the process until the study's
    config.yaml (imports, plan), until the first trial's config.yaml (the pool's start and the
    workers' imports), until the last trial's meta.json (the trials), until report.html (the
    leaderboard's figures and page) and until the process ended (results shown, workers gone).
    ``trained``: the trials' own training seconds (summary.json wall_time_s), all added up."""
    (study,) = [p for p in out.iterdir() if p.is_dir()]
    trials = [p.parent for p in study.glob("*/*/summary.json")]
    first = min((t / "config.yaml").stat().st_mtime for t in trials)
    last = max((t / "meta.json").stat().st_mtime for t in trials)
    opened, page = (study / "config.yaml").stat().st_mtime, (study / "report.html").stat().st_mtime
    return {"start": opened - started, "pool": first - opened, "trials": last - first, "leaderboard": page - last,
            "exit": ended - page, "trained": sum(json.loads((t / "summary.json").read_text())["wall_time_s"]
                                                 for t in trials)}


def part_landscape(tmp: Path) -> None:
    if not os.environ.get("OPTLAB_DATA_DIR"):
        print("| landscape | skipped: set OPTLAB_DATA_DIR to a folder with mnist/ | | | |")
        return
    _, done = wall([*OPTLAB, "train", "mnist_mlp", "train.iterations=200", "diagnostics.snapshot_every=20",
                    "--runs-dir", str(tmp / "mnist"), "--quiet"])
    run_dir = done.stdout.strip().splitlines()[-1]
    seconds, _ = wall([*OPTLAB, "landscape", run_dir, "--examples", "5000", "--only", "slice", "--quiet"])
    row(f"landscape 41 x 41 slice, MNIST MLP, 5 000 examples ({load()})", f"{seconds:.2f} s", seconds, 10, " s")
    seconds, _ = wall([*OPTLAB, "landscape", run_dir, "--examples", "5000", "--quiet"])
    print(f"| landscape, all three pictures (interpolation, slice, path) | {seconds:.2f} s | | | |")


def part_help(repeat: int) -> None:
    seconds = statistics.median(wall([*OPTLAB, "--help"])[0] for _ in range(repeat))
    row("optlab --help", f"{seconds:.3f} s", seconds, 0.3, " s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="1,2,3,5", help="which of 1-5 (default 1,2,3,5; 4 needs MNIST)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", default="4,16", help="sweep sizes for part 3")
    parser.add_argument("--overlap", action="store_true",
                        help="part 1 also: matplotlib started on a thread or a forked child while the run trains")
    parser.add_argument("--drawing", action="store_true",
                        help="part 1 also: the figures saved without their layout engine and at PNG level 1")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    os.environ.setdefault("MPLBACKEND", "Agg")
    compileall.compile_dir(Path(__file__).resolve().parents[1] / "optlab", quiet=1)   # as installed (docstring)
    print(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print("| what | measured | ratio | goal | |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        run_dir = part_train(tmp, args.repeat) if parts & {1, 2} else None
        if 1 in parts and args.overlap:
            part_overlap(tmp, args.repeat)
        if 1 in parts and args.drawing:
            part_drawing(run_dir)
        if 2 in parts:
            part_report(run_dir, args.repeat)
        if 3 in parts:
            part_sweep(tmp, args.workers, [int(n) for n in args.trials.split(",")])
        if 4 in parts:
            part_landscape(tmp)
        if 5 in parts:
            part_help(args.repeat)


if __name__ == "__main__":
    main()
