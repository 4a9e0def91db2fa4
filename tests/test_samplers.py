"""Reverse-time samplers ({eq}`pf-ode`, {eq}`rev-sde`; the paper's sampling and evaluation).

With the *exact* score both the probability-flow ODE (explicit Euler) and the reverse SDE
(Euler–Maruyama) must reproduce the data law; what is checked here is that they do so up to Monte Carlo
error: exact moments for a Gaussian, and the histogram noise floor for the paper's data sets.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scoregap import datasets, metrics, models, samplers, sde


# ------------------------------------------------------------------------------------------ time grid
def test_paper_time_grid():
    g = samplers.time_grid(800, "paper")
    assert g.shape == (891,)
    assert g[0] == 10.0 and g[-1] == 0.0
    steps = -np.diff(g)
    np.testing.assert_allclose(steps[:790], 0.0125, rtol=0, atol=1e-12)
    np.testing.assert_allclose(steps[790:], 0.00125, rtol=0, atol=1e-12)
    assert samplers.time_grid().shape == (891,)  # the paper's grid is the default
    g = samplers.time_grid(100, "paper")
    assert g.shape == (191,) and np.allclose(-np.diff(g)[:90], 0.1) and np.allclose(-np.diff(g)[90:], 0.01)


def test_uniform_time_grid():
    g = samplers.time_grid(50, "uniform")
    assert g.shape == (51,) and g[0] == 10.0 and g[-1] == 0.0
    np.testing.assert_allclose(-np.diff(g), 0.2, rtol=0, atol=1e-12)
    assert samplers.time_grid(1, "uniform").tolist() == [10.0, 0.0]


def test_bad_arguments_raise():
    for kw in ({"schedule": "cosine"}, {"nfe": 10}, {"nfe": 0, "schedule": "uniform"}, {"nfe": 2.5},
               {"nfe": True}, {"nfe": -5}):
        with pytest.raises(ValueError):
            samplers.time_grid(**{"nfe": 800, "schedule": "paper", **kw})
    score = lambda x, t: -2 * x
    for kw in ({"method": "heun"}, {"n": 0}, {"n": -1}, {"n": 1.5}, {"schedule": "cosine"}, {"nfe": 5}):
        with pytest.raises(ValueError):
            samplers.sample(score, **{"n": 10, "method": "ode", "nfe": 20, "progress": False, **kw})


# --------------------------------------------------------------------------- mechanics of the schemes
def test_score_is_called_on_the_grid_and_never_at_zero():
    seen = []

    def score(x, t):
        seen.append(t)
        return -2 * x

    samplers.sample(score, 7, "sde", nfe=20, seed=0, progress=False)
    assert np.allclose(seen, samplers.time_grid(20, "paper")[:-1], rtol=0, atol=1e-12) and min(seen) > 0


def test_euler_updates_and_noise_free_last_sde_step():
    """With the stationary score s = -2x the ODE drift -x - ½s vanishes: the ODE leaves x_T unchanged.
    With s = 0 and a single step (nfe = 1, uniform) the ODE and the SDE both give x_T (1 + T): the SDE's
    last step adds no noise.  With two steps the SDE adds exactly one noise draw of variance h = 5."""
    xT = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0)) * math.sqrt(0.5)
    out = samplers.sample(lambda x, t: -2 * x, 4000, "ode", nfe=200, x_T=xT, progress=False)
    torch.testing.assert_close(out, xT, rtol=1e-4, atol=1e-5)  # 290 float32 steps: measured max |Δ| 2.9e-6, rel 2e-6
    zero = lambda x, t: torch.zeros_like(x)
    for method in ("ode", "sde"):
        out = samplers.sample(zero, 4000, method, nfe=1, schedule="uniform", x_T=xT, seed=1, progress=False)
        torch.testing.assert_close(out, xT * 11.0)
    out = samplers.sample(zero, 4000, "sde", nfe=2, schedule="uniform", x_T=xT, seed=1, progress=False)
    resid = (out - xT * 36.0) / 6.0  # x -> 6x + sqrt(5) z -> 6(6x + sqrt(5) z)
    # resid = sqrt(5) z: variance 5 within 5 SE (5 sqrt(2/8000) = 0.079 per coordinate pooled)
    assert abs(resid.double().var().item() - 5.0) < 5 * 5.0 * math.sqrt(2 / 8000)


def test_same_seed_same_samples_and_batching():
    d = datasets.get("blob")
    for method in ("ode", "sde"):
        a = samplers.sample(d, 500, method, nfe=50, schedule="uniform", seed=3, progress=False)
        b = samplers.sample(d, 500, method, nfe=50, schedule="uniform", seed=3, progress=False)
        c = samplers.sample(d, 500, method, nfe=50, schedule="uniform", seed=4, progress=False)
        assert a.dtype == torch.float32 and a.shape == (500, 2)
        assert torch.equal(a, b) and not torch.equal(a, c)
    # the ODE is deterministic given x_T, whatever the batch size
    xT = sde.sample_prior(500, generator=torch.Generator().manual_seed(9))
    a = samplers.sample(d, 500, "ode", nfe=50, schedule="uniform", x_T=xT, progress=False)
    b = samplers.sample(d, 500, "ode", nfe=50, schedule="uniform", x_T=xT, batch_size=128, progress=False)
    assert torch.equal(a, b)


def test_potential_mlp_fast_path_matches_plain_callable(monkeypatch):
    """A PotentialMLP goes through the explicit backward pass (models.input_grad_scaled, never model.score);
    the result must match the generic path through model.score with the same noise stream.  Measured
    max |Δx| / max |x| = 0 (bitwise equal); tolerance 1e-5.  (A random network is no score, so the
    reverse dynamics expand x_T by up to e^T: only the agreement matters here.)"""
    net = models.PotentialMLP(seed=0)
    plain = {m: samplers.sample(lambda x, t: net.score(x, t), 300, m, nfe=50, schedule="uniform", seed=5,
                                progress=False) for m in ("ode", "sde")}
    calls = []
    real = samplers.input_grad_scaled

    def counting(p, inp):
        calls.append(inp.shape[0])
        return real(p, inp)

    def forbidden(*a, **k):
        raise AssertionError("the sampler should not call model.score for a PotentialMLP")

    monkeypatch.setattr(samplers, "input_grad_scaled", counting)
    monkeypatch.setattr(net, "score", forbidden)
    for method in ("ode", "sde"):
        calls.clear()
        a = samplers.sample(net, 300, method, nfe=50, schedule="uniform", seed=5, progress=False, chunk=128, workers=1)
        assert calls == [128, 128, 44] * 50  # chunked, one pass per step
        b = plain[method]
        assert ((a - b).abs().max() / b.abs().max()).item() < 1e-5
        assert not torch.equal(a, samplers.sample(net, 300, method, nfe=50, schedule="uniform", seed=6, progress=False))


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_samples_do_not_depend_on_the_number_of_workers(method):
    """Rows are split over threads at chunk boundaries, so each chunk is evaluated exactly as by one thread: bitwise equal."""
    net = models.PotentialMLP(seed=1)
    kw = dict(nfe=30, schedule="uniform", seed=7, progress=False, chunk=64)
    one = samplers.sample(net, 700, method, workers=1, **kw)
    for w in (2, 3):
        assert torch.equal(samplers.sample(net, 700, method, workers=w, **kw), one)
    with pytest.raises(ValueError, match="workers"):
        samplers.sample(net, 10, method, workers=0, **kw)


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_interrupted_sampling_resumes_to_the_same_samples(method):
    """The state handed to on_batch after each batch resumes the run: same samples as without the interruption."""
    net = models.PotentialMLP(seed=2)
    kw = dict(nfe=20, schedule="uniform", seed=11, progress=False, batch_size=256)
    states = []
    full = samplers.sample(net, 1000, method, on_batch=lambda st: states.append(st), **kw)
    assert [st["done"] for st in states] == [256, 512, 768]
    for st in states:
        assert torch.equal(st["x"], full[:st["done"]])
        assert torch.equal(samplers.sample(net, 1000, method, resume=st, **kw), full)
    with pytest.raises(ValueError, match="whole number of batches"):
        samplers.sample(net, 1000, method, resume={**states[0], "done": 100, "x": full[:100]}, **kw)


def test_row_pool_evaluates_every_chunk_once_and_returns_them_in_order():
    import threading

    from scoregap.parallel import RowPool, chunks

    assert chunks(300, 128) == [(0, 128), (128, 256), (256, 300)]
    assert chunks(10, 128) == [(0, 10)] and chunks(0, 128) == []
    with pytest.raises(ValueError, match="chunk"):
        chunks(10, 0)
    seen, names = [], set()

    def fn(i, j):
        seen.append((i, j))
        names.add(threading.current_thread().name)
        return torch.get_num_threads(), i

    with RowPool(2) as pool:
        out = pool.map(fn, 1000, 64)
    assert [i for _, i in out] == list(range(0, 1000, 64)) and sorted(seen) == chunks(1000, 64)
    assert all(th == 1 for th, _ in out)  # one intra-op thread per worker
    assert threading.current_thread().name not in names
    with pytest.raises(ValueError, match="workers"):
        RowPool(0)


# ------------------------------------------------------------------------------- exact-score Gaussian
def _euler_moments(d, nfe, method):
    """Mean and covariance after the sampler's scheme with the exact Gaussian score, by the linear
    recursion x -> (1 + h) x + c h s(x, t), s(x, t) = -C_t^{-1}(x - m_t), plus h I per SDE step but the last."""
    grid = samplers.time_grid(nfe, "paper")
    c = 0.5 if method == "ode" else 1.0
    m, C = np.zeros(2), 0.5 * np.eye(2)
    K = len(grid) - 1
    for k in range(K):
        h = grid[k] - grid[k + 1]
        mt, Ct = (z.numpy() for z in d.marginal(grid[k]))
        P = np.linalg.inv(Ct)
        A = (1 + h) * np.eye(2) - c * h * P
        m, C = A @ m + c * h * P @ mt, A @ C @ A.T
        if method == "sde" and k < K - 1:
            C = C + h * np.eye(2)
    return m, C


@pytest.mark.parametrize("method", ["ode", "sde"])
def test_exact_score_gaussian_moments(method):
    """n = 20 000 samples, nfe = 800 (paper grid).  Standard errors from n: mean sqrt(C_ii/n) (≤ 0.0071),
    covariance sqrt((C_ii C_jj + C_ij²)/n) (≤ 0.010).  The Euler bias (exact recursion) is at most
    0.0069 (ODE C_xx), below 1 SE.  Checks: the sample moments equal the scheme's moments within 4 SE, and
    the exact data law within 4 SE + |bias|."""
    d = datasets.get("gaussian")
    n = 20_000
    x = samplers.sample(d, n, method, nfe=800, seed={"ode": 11, "sde": 12}[method], progress=False).double().numpy()
    m0, C0 = (z.numpy() for z in d.marginal(0.0))
    m_e, C_e = _euler_moments(d, 800, method)
    se_m = np.sqrt(np.diag(C0) / n)
    se_C = np.sqrt((np.outer(np.diag(C0), np.diag(C0)) + C0**2) / n)
    assert (np.abs(m_e - m0) < se_m).all() and (np.abs(C_e - C0) < se_C).all()  # discretisation is small
    mean, cov = x.mean(0), np.cov(x.T)
    assert (np.abs(mean - m_e) < 4 * se_m).all(), (mean, m_e, se_m)
    assert (np.abs(cov - C_e) < 4 * se_C).all(), (cov, C_e, se_C)
    assert (np.abs(mean - m0) < 4 * se_m + np.abs(m_e - m0)).all()
    assert (np.abs(cov - C0) < 4 * se_C + np.abs(C_e - C0)).all()


# ---------------------------------------------------------------------------- exact-score paper data sets
N_PAPER = 8_000
NFE_PAPER = 200


def _exact(name):
    # circles2 with 8 Gauss–Hermite nodes instead of 48: ~6x cheaper score (0.021 vs 0.137 s per 10 000
    # points), and the sampler output agrees to float32 rounding (test_circles_cheap_quadrature_...)
    return datasets.Circles(n_nodes=8) if name == "circles2" else datasets.get(name)


def test_circles_cheap_quadrature_gives_identical_samples():
    """Justifies _exact("circles2"): same x_T (and noise), nfe = 200, 8 vs 48 nodes: measured max |Δx| =
    6e-8 on 2 000 ODE paths and 1.2e-7 on 1 000 SDE paths (float32 rounding); 200 ODE paths here, tol 1e-5."""
    xT = sde.sample_prior(200, generator=torch.Generator().manual_seed(4))
    a = samplers.sample(datasets.get("circles2"), 200, "ode", nfe=NFE_PAPER, x_T=xT, progress=False)
    b = samplers.sample(_exact("circles2"), 200, "ode", nfe=NFE_PAPER, x_T=xT, progress=False)
    assert (a - b).abs().max().item() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("name", datasets.PAPER_NAMES)
def test_exact_score_ode_and_sde_reach_the_noise_floor(name):
    """W2² between 64×64 histograms of exact-score ODE samples, SDE samples and fresh data samples.

    Budget: n = 8 000 and nfe = 200 (paper grid: 190 steps of 0.05, then 100 of 0.005); about 55 s of CPU
    for the three data sets.  The discretisation error of nfe = 200 against the paper's nfe = 800 was
    measured by coupling (same x_T, ODE, 2 000 paths): E|X_200 - X_800|² = 0.0020 (blob), 0.0030
    (checker), 0.0031 (circles2) -- an upper bound on W2² between the two laws, ~0.2× the floor.
    Floor = metrics.noise_floor at the same n, 3 repeats, seeds 1000–1005.  Measured at n = 8 000:
    blob 0.0230 ± 0.0095, circles2 0.0143 ± 0.0008, checker 0.0153 ± 0.0035 (the floor is heavy-tailed:
    binomial imbalances between well-separated modes; at n = 10 000 over 10 repeats the checker floor
    ranged 0.0077–0.0204 and one blob pair reached 0.039).  Bound: 2.5 × floor + 3 × floor sd
    (blob 0.086, circles2 0.038, checker 0.048).  Measured W2² ODE–SDE / ODE–truth / SDE–truth:
    blob 0.012 / 0.017 / 0.019, circles2 0.011 / 0.013 / 0.014, checker 0.011 / 0.012 / 0.012.
    Sensitivity: an ODE with the score scaled by 0.9 or 1.1 gives W2² 0.68–1.65 (blob, checker, n = 10 000)
    and fails by far; the SDE is robust to such errors (0.023–0.039) and this n cannot resolve them.
    """
    d = _exact(name)
    floor, floor_sd = metrics.noise_floor(lambda n, s: d.sample(n, seed=s), N_PAPER, repeats=3, seed=1000)
    print(f"\n{name}: noise floor W2² at n={N_PAPER}: {floor:.5f} ± {floor_sd:.5f}")
    bound = 2.5 * floor + 3 * floor_sd
    ode = samplers.sample(d, N_PAPER, "ode", nfe=NFE_PAPER, seed=1, progress=False)
    sde_x = samplers.sample(d, N_PAPER, "sde", nfe=NFE_PAPER, seed=2, progress=False)
    h_ode, drop_ode = metrics.histogram(ode)
    h_sde, drop_sde = metrics.histogram(sde_x)
    h_true, drop_true = metrics.histogram(d.sample(N_PAPER, seed=3))
    # few samples leave the box: the data laws put 4.6e-4 (blob), 2e-5 (circles2), 0 (checker) outside
    assert max(drop_ode, drop_sde, drop_true) <= 0.002 * N_PAPER
    vals = {"ode-sde": metrics.w2_squared(h_ode, h_sde),
            "ode-truth": metrics.w2_squared(h_ode, h_true),
            "sde-truth": metrics.w2_squared(h_sde, h_true)}
    print(f"{name}: " + ", ".join(f"{k} {v:.5f}" for k, v in vals.items()) + f" (bound {bound:.5f})")
    for k, v in vals.items():
        assert v < bound, (name, k, v, floor, floor_sd)
