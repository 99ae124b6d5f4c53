"""Figures of a comparison that must survive what the data does (#15): a diverging path on a 2-D
surface, a view that diverging paths must not stretch, markers with a legend, no empty figure."""

from __future__ import annotations

from typer.testing import CliRunner

from optlab.cli import app

RUNNER = CliRunner()


def _compare(tmp_path, *args):
    out = RUNNER.invoke(app, ["compare", *args, "--workers", "1", "--runs-dir", str(tmp_path), "-q"])
    [path] = list(tmp_path.iterdir())
    return out, path


def test_a_diverging_path_on_rosenbrock_is_plotted_and_marked_not_a_crash(tmp_path):
    # optlab's default rates: nesterov (0.01) flies off to 1e203 in 6 steps; that was an OverflowError
    # inside matplotlib's log ticks and a comparison with no figures at all
    out, path = _compare(tmp_path, "sgd", "nesterov", "--config", "rosenbrock", "train.iterations=50")
    assert out.exit_code == 1, out.output                     # a diverged trial: exit 1, as documented
    assert "diverged trials/nesterov-s0" in out.output and "Traceback" not in out.output
    assert (path / "trajectories.png").stat().st_size > 10_000 and (path / "loss.png").is_file()


def test_the_path_panels_cut_a_divergence_and_name_start_and_minimum(tmp_path):
    from optlab.record import compare_plots
    from optlab.record.compare_stats import load_compare

    _compare(tmp_path, "sgd", "nesterov", "--config", "rosenbrock", "train.iterations=50")
    [path] = list(tmp_path.iterdir())
    _, labels, trials = load_compare(path)
    fig = compare_plots.trajectories_figure(labels, trials, "t")
    ax = fig.axes[1]                                          # nesterov's own panel
    x0, x1 = ax.get_xlim()
    assert x1 - x0 < 20                                       # the view stays near the valley
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["nesterov (diverged)", "start", "minimum"]
    assert all(abs(v) < 1e3 for line in ax.lines for v in line.get_xdata())


def test_no_accuracy_figure_without_validation_data(tmp_path):
    out, path = _compare(tmp_path, "--vary", "loss=quadratic,binary_cross_entropy", "--config", "nielsen_slowdown",
                         "train.epochs=20")
    assert out.exit_code == 0, out.output
    assert (path / "loss.png").is_file() and not (path / "accuracy.png").exists()


def test_seeds_that_stop_at_different_steps_share_the_longest_x(tmp_path):
    """L-BFGS stops when it converges, each seed at its own step: the mean curve spans the longest
    seed, against that seed's x (a ValueError in matplotlib when it took the first seed's)."""
    import numpy as np

    from optlab.record import compare_plots
    from optlab.record.compare_stats import TrialData

    def trial(n):
        steps = np.arange(n + 1, dtype=float)
        return TrialData(tmp_path, "completed", {}, {"step": steps, "loss": np.exp(-steps / 10)}, {})
    fig = compare_plots.loss_figure(["lbfgs"], [[trial(64), trial(71), trial(50)]], "t")
    lines = [line for line in fig.axes[0].lines if line.get_label() == "lbfgs"]
    assert lines and lines[0].get_xdata()[-1] == 71


def test_log_scale_loss_ticks_are_plain_text(tmp_path):
    """The style draws text as it is (no mathtext), so a log axis must not label 10^-3 as
    matplotlib's default "$\\mathdefault{10^{-3}}$"."""
    import numpy as np

    from optlab.record import compare_plots
    from optlab.record.compare_stats import TrialData

    steps = np.arange(101, dtype=float)
    trial = TrialData(tmp_path, "completed", {}, {"step": steps, "loss": 10.0 ** (-steps / 20)}, {})
    fig = compare_plots.loss_figure(["lbfgs"], [[trial]], "t")
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True) if t.get_text()]
    assert labels and not any("$" in label for label in labels), labels
