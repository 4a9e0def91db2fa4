"""Beyond the paper: the coupling bound on W2(ODE law, SDE law), checked exactly for affine scores."""
import numpy as np
import pytest
import torch

from scoregap import gaussian, samplers


def test_w2_gaussians_closed_form():
    S = np.diag([1.0, 0.25])
    assert gaussian.w2_gaussians([0, 0], S, [0, 0], S) == pytest.approx(0.0, abs=1e-12)
    assert gaussian.w2_gaussians([0, 0], S, [3, 4], S) == pytest.approx(5.0)
    # commuting covariances: W2² = Σ (√a - √b)²
    assert gaussian.w2_gaussians([0, 0], np.diag([4.0, 1.0]), [0, 0], np.diag([1.0, 9.0])) ** 2 == pytest.approx(1 + 4)


def test_exact_score_gives_the_data_law_for_both_samplers():
    (mo, So), (ms, Ss) = gaussian.induced_laws(gaussian.exact_score())
    for m, S in ((mo, So), (ms, Ss)):
        assert np.allclose(m, [0.5, -0.3], atol=1e-3) and np.allclose(S, [[1.0, 0.3], [0.3, 0.25]], atol=1e-3)
    assert gaussian.gap(gaussian.exact_score()) < 1e-3


@pytest.mark.parametrize("k", [1, 3, 4, 5, 8, 11, 14])
def test_bound_holds(k):
    s = gaussian.family()[k]
    g, b = gaussian.gap(s), gaussian.coupling_bound(s, n_tau=1501)
    assert g > 1e-4 and b >= g, (s.label, g, b)


def test_sampling_agrees_with_the_moment_odes():
    """Cross-check by sampling: a shifted-mean member through scoregap's Euler samplers, n = 20 000.
    Tolerances: 4 Monte Carlo standard errors of the mean (√(Σ_ii/n) ≈ 0.007) and of the variances (Σ_ii √(2/n))."""
    s = gaussian.family()[2]
    (mo, So), (ms, Ss) = gaussian.induced_laws(s)
    n = 20_000
    for method, (m, S) in (("ode", (mo, So)), ("sde", (ms, Ss))):
        x = samplers.sample(s, n, method=method, nfe=400, seed=3, progress=False).double().numpy()
        se_m = np.sqrt(np.diag(S) / n)
        assert np.all(np.abs(x.mean(0) - m) < 4 * se_m + 0.01), (method, x.mean(0), m)
        se_v = np.diag(S) * np.sqrt(2 / n)
        assert np.all(np.abs(np.diag(np.cov(x.T)) - np.diag(S)) < 4 * se_v + 0.01), (method, np.cov(x.T), S)
