"""2-D objectives: gradients, config validation, and the bowl paths of the shipped config checked
against each optimizer's update rule written out by hand (DLFS ch. 6)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from optlab.cli import app
from optlab.config.loading import ConfigError, load_config, loads_config
from optlab.engine.surfaces import OBJECTIVES, view_window
from optlab.record.rundir import read_metrics

REPO = Path(__file__).resolve().parents[1]
BOWL = REPO / "configs" / "bowl.yaml"


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_gradient_matches_central_differences(name):
    f = OBJECTIVES[name]
    rng = np.random.default_rng(0)
    x0, x1, y0, y1 = f.window
    x, y = rng.uniform(x0, x1, 20), rng.uniform(y0, y1, 20)
    gx, gy = f.grad(x, y)
    h = 1e-6
    nx = (f.value(x + h, y) - f.value(x - h, y)) / (2 * h)
    ny = (f.value(x, y + h) - f.value(x, y - h)) / (2 * h)
    scale = 1 + np.abs(gx) + np.abs(gy)
    assert np.max(np.abs(gx - nx) / scale) < 1e-5
    assert np.max(np.abs(gy - ny) / scale) < 1e-5


@pytest.mark.parametrize("name", [n for n in OBJECTIVES if OBJECTIVES[n].minimum is not None])
def test_minimum_is_a_stationary_point(name):
    f = OBJECTIVES[name]
    gx, gy = f.grad(*map(np.float64, f.minimum))
    assert abs(gx) < 1e-12 and abs(gy) < 1e-12
    assert f.value(*map(np.float64, f.minimum)) == pytest.approx(0.0, abs=1e-12)


def test_view_window_grows_for_the_path_but_stays_near_the_surfaces_region():
    bowl = OBJECTIVES["bowl"]
    assert view_window(bowl, np.array([-7.0]), np.array([2.0])) == (-10, 10, -5, 5)
    x0, x1, y0, y1 = view_window(bowl, np.array([0.0, 13.0, np.nan]), np.array([0.0, 1.0, np.inf]))
    assert 13 < x1 <= 20 and (y0, y1) == (-5, 5)            # an overshoot stays in view
    x0, x1, _, _ = view_window(bowl, np.array([1e9]), np.array([0.0]))
    assert x1 == 20                                          # a divergence does not stretch the view
    beale = OBJECTIVES["beale"]                              # #15: paths off to +-45 hid Adam's path
    assert view_window(beale, np.array([-45.0, 3.0]), np.array([45.0, 0.5])) == (-9.0, 4.5, -4.5, 9.0)


SURFACE = """
name: s
model: {name: surface, function: rosenbrock, start: [-1.5, 2]}
optimizer: {name: adam, lr: 0.1}
train: {iterations: 5}
"""


def test_surface_config_needs_neither_data_nor_loss():
    config = loads_config(SURFACE)
    assert config.model.function == "rosenbrock" and config.data is None and config.loss is None


@pytest.mark.parametrize("extra, message", [
    ("loss: hinge\n", "remove loss"),
    ("data: {name: blobs}\n", "remove data"),
])
def test_surface_refuses_data_and_loss(extra, message):
    with pytest.raises(ConfigError, match=message):
        loads_config(SURFACE + extra)


def test_surface_needs_iterations_and_a_start():
    with pytest.raises(ConfigError, match="give train.iterations"):
        loads_config(SURFACE.replace("iterations: 5", "epochs: 5"))
    with pytest.raises(ConfigError, match="model.start  required key is missing"):
        loads_config(SURFACE.replace(", start: [-1.5, 2]", ""))


def test_other_models_still_need_data_and_loss():
    with pytest.raises(ConfigError) as info:
        loads_config("model: mlp\ntrain: {iterations: 3}\n")
    assert {(p.key, p.message) for p in info.value.problems} >= {
        ("data", "required key is missing"), ("loss", "required key is missing")}


# ------------------------------------------------------------------------------------------------
# the bowl, by hand: f = x^2/20 + y^2, grad = (x/10, 2y); every rule applied to x and y separately
# ------------------------------------------------------------------------------------------------
def _grad(x, y):
    return x / 10.0, 2.0 * y


def sgd(lr, steps=30):
    x, y, path = -7.0, 2.0, [(-7.0, 2.0)]
    for _ in range(steps):
        gx, gy = _grad(x, y)
        x, y = x - lr * gx, y - lr * gy
        path.append((x, y))
    return path


def momentum(lr, mu=0.9, steps=30):
    x, y, vx, vy, path = -7.0, 2.0, 0.0, 0.0, [(-7.0, 2.0)]
    for _ in range(steps):
        gx, gy = _grad(x, y)
        vx, vy = mu * vx - lr * gx, mu * vy - lr * gy
        x, y = x + vx, y + vy
        path.append((x, y))
    return path


def nesterov(lr, mu=0.9, steps=30):
    x, y, vx, vy, path = -7.0, 2.0, 0.0, 0.0, [(-7.0, 2.0)]
    for _ in range(steps):
        gx, gy = _grad(x, y)
        px, py = vx, vy
        vx, vy = mu * vx - lr * gx, mu * vy - lr * gy
        x, y = x - mu * px + (1 + mu) * vx, y - mu * py + (1 + mu) * vy
        path.append((x, y))
    return path


def adagrad(lr, eps=1e-8, steps=30):
    x, y, hx, hy, path = -7.0, 2.0, 0.0, 0.0, [(-7.0, 2.0)]
    for _ in range(steps):
        gx, gy = _grad(x, y)
        hx, hy = hx + gx * gx, hy + gy * gy
        x, y = x - lr * gx / (math.sqrt(hx) + eps), y - lr * gy / (math.sqrt(hy) + eps)
        path.append((x, y))
    return path


def rmsprop(lr, decay=0.99, eps=1e-8, steps=30):
    x, y, hx, hy, path = -7.0, 2.0, 0.0, 0.0, [(-7.0, 2.0)]
    for _ in range(steps):
        gx, gy = _grad(x, y)
        hx, hy = decay * hx + (1 - decay) * gx * gx, decay * hy + (1 - decay) * gy * gy
        x, y = x - lr * gx / (math.sqrt(hx) + eps), y - lr * gy / (math.sqrt(hy) + eps)
        path.append((x, y))
    return path


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, steps=30):
    x, y, path = -7.0, 2.0, [(-7.0, 2.0)]
    m, v = [0.0, 0.0], [0.0, 0.0]
    for t in range(1, steps + 1):
        g = _grad(x, y)
        p = [x, y]
        for i in range(2):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i]
            m_hat, v_hat = m[i] / (1 - b1 ** t), v[i] / (1 - b2 ** t)
            p[i] -= lr * m_hat / (math.sqrt(v_hat) + eps)
        x, y = p
        path.append((x, y))
    return path


def test_bowl_config_uses_the_dlfs_rates():
    config = load_config(BOWL)
    assert config.model.function == "bowl" and list(config.model.start) == [-7.0, 2.0]
    assert config.train.iterations == 30
    assert {o.name: o.lr for o in config.compare.optimizers} == {"sgd": 0.95, "momentum": 0.1, "adagrad": 1.5, "adam": 0.3}


def test_bowl_paths_follow_each_update_rule(tmp_path):
    """`optlab compare` on the shipped bowl config: every 30-step path is the rule by hand."""
    result = CliRunner().invoke(app, ["compare", "sgd", "momentum", "adagrad", "adam", "rmsprop:lr=0.1",
                                      "nesterov:lr=0.05", "--config", str(BOWL), "--workers", "1",
                                      "--runs-dir", str(tmp_path), "-q", "--no-trial-figures"])   # the paths, not six pages
    assert result.exit_code == 0, result.output
    [compare_dir] = tmp_path.iterdir()
    expected = {"sgd": sgd(0.95), "momentum": momentum(0.1), "adagrad": adagrad(1.5), "adam": adam(0.3),
                "rmsprop_lr_0.1": rmsprop(0.1), "nesterov_lr_0.05": nesterov(0.05)}
    for name, path in expected.items():
        m = read_metrics(compare_dir / "trials" / f"{name}-s0" / "metrics.csv")
        assert m["step"] == list(range(31))
        np.testing.assert_allclose(np.c_[m["x"], m["y"]], np.array(path), rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(m["loss"], [x * x / 20 + y * y for x, y in path], rtol=1e-12, atol=1e-15)
    for name in ("trajectories.png", "loss.png", "results.md", "results.csv"):
        assert (compare_dir / name).stat().st_size > 0
    assert not (compare_dir / "accuracy.png").exists()
    md = (compare_dir / "results.md").read_text()
    assert "| final f(x, y) | distance to minimum |" in md
    assert "| adagrad ★ | 1.5 |" in md   # DLFS's figure: AdaGrad ends closest to the bottom


def test_train_on_a_surface_writes_its_path(tmp_path):
    result = CliRunner().invoke(app, ["train", str(BOWL), "--runs-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    [run_dir] = tmp_path.iterdir()
    assert {"config.yaml", "meta.json", "metrics.csv", "summary.json", "loss.png", "path.png", "results.md"} <= {
        p.name for p in run_dir.iterdir()}
    assert "distance to the minimum" in (run_dir / "results.md").read_text()
    assert "objective: bowl" in result.output


def test_gradcheck_refuses_a_surface_with_a_message():
    result = CliRunner().invoke(app, ["gradcheck", str(BOWL)])
    assert result.exit_code == 2
    assert "not a network" in result.output and "Traceback" not in result.output
