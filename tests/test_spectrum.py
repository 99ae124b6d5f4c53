"""The spectrum from Hessian-vector products (optlab.engine.spectrum) against operators whose
spectrum is known: Lanczos, Hutchinson's trace and its variance, stochastic Lanczos quadrature."""

from __future__ import annotations

import numpy as np
import pytest

from optlab.engine.spectrum import (count_outliers, default_sigma, density, density_grid, hutchinson, lanczos,
                                    negative_mass, quadrature_mean, slq, top_eigen)

DIAG = np.arange(1.0, 101.0)


def diag_op(v):
    return DIAG * v


def test_lanczos_top_eigenvalue_of_diag_1_to_100_after_40_products():
    calls = []
    run = lanczos(lambda v: calls.append(1) or diag_op(v), 100, 40, np.ones(100))
    assert len(calls) == 40
    assert abs(np.linalg.eigvalsh(run.tridiagonal())[-1] - 100.0) <= 1e-6
    for seed in range(5):   # from random starts too, to 1e-6 relative
        run = lanczos(diag_op, 100, 40, np.random.default_rng(seed).standard_normal(100))
        assert abs(np.linalg.eigvalsh(run.tridiagonal())[-1] - 100.0) <= 1e-6 * 100
    assert np.allclose(run.Q @ run.Q.T, np.eye(40), atol=1e-10)     # full re-orthogonalisation


def test_top_k_of_a_random_symmetric_matrix_equal_eigh():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 30))
    A = (A + A.T) / 2
    values, vectors, residuals = top_eigen(lambda v: A @ v, 30, 5, rng, steps=30)
    exact, U = np.linalg.eigh(A)
    assert np.allclose(values, exact[::-1][:5], rtol=0, atol=1e-10)
    assert np.all(residuals < 1e-8)
    assert np.allclose(np.abs(vectors @ U[:, ::-1][:, :5]), np.eye(5), atol=1e-8)


def test_slq_density_integrates_to_one_and_its_mean_is_trace_over_n():
    nodes, weights = slq(diag_op, 100, runs=4, steps=30, rng=np.random.default_rng(0))
    assert np.allclose(weights.sum(axis=1), 1.0)
    sigma = default_sigma(nodes)
    grid = density_grid(nodes, sigma)
    phi = density(nodes, weights, grid, sigma)
    dt = grid[1] - grid[0]
    assert abs(phi.sum() * dt - 1.0) <= 1e-6
    # a Rademacher start has v_i^2 = 1/n: v'Hv is tr(H)/n exactly for a diagonal H
    assert abs(quadrature_mean(nodes, weights) - DIAG.mean()) <= 1e-9
    assert abs((grid * phi).sum() * dt - DIAG.sum() / 100) <= 1e-6
    assert negative_mass(nodes, weights) == 0.0


def test_slq_shows_the_negative_part():
    d = np.r_[-np.ones(20), np.ones(80)]
    nodes, weights = slq(lambda v: d * v, 100, runs=2, steps=10, rng=np.random.default_rng(1))
    assert negative_mass(nodes, weights) == pytest.approx(0.2, abs=1e-9)


def test_hutchinson_is_exact_in_one_probe_for_a_diagonal_matrix():
    est = hutchinson(diag_op, 100, probes=1, rng=np.random.default_rng(3))
    assert est.estimate == pytest.approx(DIAG.sum(), rel=1e-14)


def test_hutchinson_variance_is_twice_the_off_diagonal_frobenius_norm():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((20, 20))
    A = (A + A.T) / 2
    probes = 4000
    est = hutchinson(lambda v: A @ v, 20, probes, rng, exact_below=False)
    expected = 2 * (np.sum(A * A) - np.sum(np.diag(A) ** 2))
    var = est.samples.var(ddof=1)
    # the sample variance of z'Az has relative standard error about sqrt(2 / probes) (a little more:
    # z'Az is not normal): 5 % at 4000 probes; allow 4 of those
    assert abs(var - expected) <= 4 * np.sqrt(3.0 / probes) * expected
    assert est.low <= np.trace(A) <= est.high or abs(est.estimate - np.trace(A)) <= 4 * est.std_error


def test_hutchinson_is_the_exact_trace_when_probes_cover_every_coordinate():
    A = np.array([[802.0, -400.0], [-400.0, 200.0]])
    est = hutchinson(lambda v: A @ v, 2, probes=10, rng=np.random.default_rng(0))
    assert est.estimate == 1002.0 and est.std_error == 0.0


def test_outliers_are_counted_above_the_widest_gap():
    values = np.r_[np.linspace(10, 5, 9), np.linspace(0.2, 0.1, 11)]
    assert count_outliers(values)[0] == 9
