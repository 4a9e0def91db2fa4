"""Histograms on the paper's 64 × 64 grid, exact W2² by optimal transport, sliced W2 ({eq}`w2-metric`)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from scoregap import metrics

H = 7 / 63  # grid spacing of linspace(-3.5, 3.5, 64)


def test_grid_points_layout():
    g = metrics.grid_points()
    assert g.shape == (4096, 2)
    lin = np.linspace(-3.5, 3.5, 64)
    # index = y_index * 64 + x_index
    assert np.array_equal(g[5 * 64 + 7], [lin[7], lin[5]])
    assert np.array_equal(g[63 * 64], [-3.5, 3.5])


def test_histogram_weights_and_flattening_order():
    w, dropped = metrics.histogram(np.array([[-3.5, 3.5]]))
    assert w.shape == (4096,) and dropped == 0
    assert w[63 * 64 + 0] == 1.0 and w.sum() == 1.0
    w, _ = metrics.histogram(np.array([[3.5, -3.5]]))
    assert w[63] == 1.0
    # each grid point lands in its own cell: the histogram of the grid is uniform
    w, dropped = metrics.histogram(metrics.grid_points())
    assert dropped == 0 and np.allclose(w, 1 / 4096, rtol=0, atol=1e-15)
    # nearest grid point (ties aside): 0.49 h from the first column stays, 0.51 h moves to the next
    w, _ = metrics.histogram(np.array([[-3.5 + 0.49 * H, 0.0 + 0.0], [-3.5 + 0.51 * H, -3.5 + 1.49 * H]]))
    y0 = int(np.rint(3.5 / H))  # row of y = 0: nearest of the 64 points
    assert w[y0 * 64 + 0] == 0.5 and w[1 * 64 + 1] == 0.5
    # random samples: weights sum to one, in float64
    rng = np.random.default_rng(0)
    w, dropped = metrics.histogram(rng.normal(size=(5000, 2)))
    assert w.dtype == np.float64 and w.sum() == pytest.approx(1.0, abs=1e-12) and (w >= 0).all()


def test_histogram_counts_dropped_samples():
    import torch

    pts = np.array([[0.0, 0.0], [3.5, 3.5], [-3.5, 0.0],   # kept (the box is closed)
                    [3.51, 0.0], [0.0, -4.0], [10, 10],    # outside
                    [np.nan, 0.0], [0.0, np.inf], [-np.inf, 1.0]])  # non-finite
    w, dropped = metrics.histogram(pts)
    assert dropped == 6
    assert w.sum() == pytest.approx(1.0) and np.count_nonzero(w) == 3 and np.allclose(w[w > 0], 1 / 3)
    w_t, dropped_t = metrics.histogram(torch.tensor(pts, dtype=torch.float32))  # torch input works too
    assert dropped_t == 6 and np.array_equal(w_t, w)
    with pytest.raises(ValueError, match="outside"):
        metrics.histogram(np.array([[4.0, 0.0], [np.nan, 1.0]]))
    with pytest.raises(ValueError):
        metrics.histogram(np.zeros((5, 3)))


def _random_hist(seed):
    """Uneven random weights on a 20 × 25 block (rows 20–39, x columns 5–29); a small support keeps the
    exact OT cheap (dense 4096-point random histograms took ~10 s per emd2 here)."""
    rng = np.random.default_rng(seed)
    w = np.zeros((64, 64))
    w[20:40, 5:30] = rng.random((20, 25)) ** 4
    return w.ravel() / w.sum()


def test_w2_squared_identity_and_symmetry():
    a, b = _random_hist(0), _random_hist(1)
    assert metrics.w2_squared(a, a) == pytest.approx(0.0, abs=1e-12)
    ab, ba = metrics.w2_squared(a, b), metrics.w2_squared(b, a)
    assert ab > 0 and ab == pytest.approx(ba, rel=1e-9)
    # unnormalised weights are normalised first
    assert metrics.w2_squared(3 * a, 0.5 * b) == pytest.approx(ab, rel=1e-9)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_w2_squared_of_a_shift_is_the_shift_squared(k):
    """A translation by s is transported optimally by the translation itself: W2² = |s|² exactly."""
    a = _random_hist(2)
    b = np.roll(a.reshape(64, 64), k, axis=1).ravel()  # x index is the fast index; columns 29+k < 64
    assert metrics.w2_squared(a, b) == pytest.approx((k * H) ** 2, rel=1e-9)
    b = np.roll(a.reshape(64, 64), -k, axis=0).ravel()  # shift in y (rows 20-k ≥ 0)
    assert metrics.w2_squared(a, b) == pytest.approx((k * H) ** 2, rel=1e-9)


def test_w2_squared_split_mass_uses_squared_euclidean_cost():
    g = metrics.grid_points()
    a = np.zeros(4096)
    b = np.zeros(4096)
    i, j, l = 10 * 64 + 10, 13 * 64 + 14, 6 * 64 + 10
    a[i] = 1.0
    b[j] = b[l] = 0.5
    expected = 0.5 * ((g[i] - g[j]) ** 2).sum() + 0.5 * ((g[i] - g[l]) ** 2).sum()
    assert expected == pytest.approx(0.5 * (3**2 + 4**2) * H**2 + 0.5 * 16 * H**2)
    assert metrics.w2_squared(a, b) == pytest.approx(expected, rel=1e-12)


def test_w2_with_points_matches_sample_ot_and_assignment():
    """Equal-size uniform clouds: OT is an assignment problem, solved independently of POT by scipy."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    y = rng.normal(size=(40, 2)) * 0.7 + [0.5, -0.2]
    ref_cost = ((x[:, None] - y[None]) ** 2).sum(-1)
    r, c = linear_sum_assignment(ref_cost)
    ref = ref_cost[r, c].mean()
    assert metrics.w2_squared_samples(x, y) == pytest.approx(ref, rel=1e-9)
    pts = np.concatenate([x, y])
    a = np.r_[np.full(40, 1 / 40), np.zeros(40)]
    b = np.r_[np.zeros(40), np.full(40, 1 / 40)]
    assert metrics.w2_squared(a, b, points=pts) == pytest.approx(ref, rel=1e-9)
    # unequal sizes still work for the sample version (mass splitting): compare with the points form
    z = rng.normal(size=(25, 2))
    pts = np.concatenate([x, z])
    a = np.r_[np.full(40, 1 / 40), np.zeros(25)]
    b = np.r_[np.zeros(40), np.full(25, 1 / 25)]
    assert metrics.w2_squared_samples(x, z) == pytest.approx(metrics.w2_squared(a, b, points=pts), rel=1e-9)


def test_w2_squared_rejects_bad_weights():
    a = _random_hist(0)
    with pytest.raises(ValueError):
        metrics.w2_squared(a[:-1], a)
    with pytest.raises(ValueError):
        metrics.w2_squared(a, np.r_[a, 0.0])
    with pytest.raises(ValueError):
        metrics.w2_squared(np.ones(3), np.ones(3), points=np.zeros((4, 2)))
    neg = a.copy()
    neg[0] = -0.1
    for bad in (neg, np.zeros(4096), np.full(4096, np.nan)):
        with pytest.raises(ValueError):
            metrics.w2_squared(bad, a)


def test_sliced_w2():
    """Sliced W2² = mean over directions θ of the 1-D W2²; for y = x + s every projection is an exact
    translate, so the value is the mean of (θ·s)² over the random directions, E = |s|²/2.  Its standard error
    with P projections is |s|² sqrt(Var cos²θ / P) = |s|² sqrt(1/8 / P) (= 0.011 for P = 1000); tol 5 SE."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 2))
    assert metrics.sliced_w2(x, x) == pytest.approx(0.0, abs=1e-12)
    s = np.array([0.6, -0.8])
    P = 1000
    val = metrics.sliced_w2(x, x + s, n_projections=P, seed=3)
    assert abs(val - 0.5) < 5 * math.sqrt(1 / 8 / P)
    assert metrics.sliced_w2(x, x + s, n_projections=P, seed=3) == val  # seeded
    # twice the shift, four times the cost (same directions)
    assert metrics.sliced_w2(x, x + 2 * s, n_projections=P, seed=3) == pytest.approx(4 * val, rel=1e-9)
    with pytest.raises(ValueError):
        metrics.sliced_w2(x, np.zeros((10, 3)))


def test_noise_floor_uses_independent_draws():
    seeds = []

    def fn(n, s):
        seeds.append(s)
        return np.random.default_rng(s).uniform(-2, 2, size=(n, 2))

    mean, std = metrics.noise_floor(fn, 500, repeats=3, seed=10)
    assert len(seeds) == 6 and len(set(seeds)) == 6
    assert mean > 0 and std >= 0
    same = metrics.noise_floor(lambda n, s: np.zeros((n, 2)), 100, repeats=2)
    assert same == (0.0, 0.0)
