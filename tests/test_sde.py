"""The OU forward SDE dX = -X dt + dW ({eq}`fwd-sde`, {eq}`kernel`): kernel, times, input validation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scoregap import sde


def test_constants_are_the_papers():
    assert sde.T == 10.0 and sde.EPS == 1e-5 and sde.EPS_SAMPLE == 1e-4 and sde.STATIONARY_VAR == 0.5
    x = torch.randn(5, 2)
    assert torch.equal(sde.drift(x, 0.3), -x)
    assert sde.diffusion(0.3) == 1.0


def test_kernel_mean_and_variance_closed_form():
    """a(t) = e^{-t}, v(t) = ½(1 - e^{-2t}); v must stay relatively accurate as t -> 0 (v ≈ t - t²)."""
    t = torch.tensor([1e-10, 1e-5, 1e-3, 0.1, 1.0, 5.0, 10.0], dtype=torch.float64)
    np.testing.assert_allclose(sde.kernel_mean_coef(t).numpy(), np.exp(-t.numpy()), rtol=1e-15)
    ref = np.array([0.5 * float(-math.expm1(-2 * s)) for s in t.tolist()])
    np.testing.assert_allclose(sde.kernel_var(t).numpy(), ref, rtol=1e-14)
    # independent small-t series and large-t limit
    assert abs(sde.kernel_var(torch.tensor(1e-10, dtype=torch.float64)).item() / (1e-10 - 1e-20) - 1) < 1e-12
    assert abs(sde.kernel_var(torch.tensor(10.0, dtype=torch.float64)).item() - 0.5) < 2e-9  # ½e^{-20} = 1e-9
    # float32 keeps relative accuracy at t = eps: measured 3e-8 (a naive ½(1 - e^{-2t}) in float32 is off by 1.4e-3)
    v32 = sde.kernel_var(torch.tensor(sde.EPS, dtype=torch.float32)).item()
    assert abs(v32 / (sde.EPS - sde.EPS**2) - 1) < 1e-6


def test_sample_kernel_moments_and_returned_score():
    """x_t | x0 ~ N(a x0, v I): sample mean and variance within 5 standard errors at n = 200 000
    (mean SE sqrt(v/n), variance SE v sqrt(2/n)); the returned target is the kernel score at x_t."""
    n, t = 200_000, 0.7
    a, v = math.exp(-t), -0.5 * math.expm1(-2 * t)
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64).expand(n, 2)
    tt = torch.full((n, 1), t, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    xt, target = sde.sample_kernel(x0, tt, generator=g)
    assert xt.shape == (n, 2) and xt.dtype == torch.float64
    mean, var = xt.mean(0), xt.var(0)
    assert ((mean - a * x0[0]).abs() < 5 * math.sqrt(v / n)).all(), mean
    assert ((var - v).abs() < 5 * v * math.sqrt(2 / n)).all(), var
    # coordinates independent: correlation within 5/sqrt(n)
    assert abs(torch.corrcoef(xt.T)[0, 1].item()) < 5 / math.sqrt(n)
    torch.testing.assert_close(target, sde.kernel_score(xt, x0, tt), rtol=1e-10, atol=1e-10)
    # same generator seed -> same draw
    xt2, _ = sde.sample_kernel(x0, tt, generator=torch.Generator().manual_seed(0))
    assert torch.equal(xt, xt2)


def test_kernel_score_is_gradient_of_log_kernel():
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(50, 2, generator=g, dtype=torch.float64)
    xt = torch.randn(50, 2, generator=g, dtype=torch.float64).requires_grad_(True)
    t = torch.rand(50, 1, generator=g, dtype=torch.float64) * 3 + 1e-3
    a, v = torch.exp(-t), 0.5 * (1 - torch.exp(-2 * t))
    logk = (-0.5 * ((xt - a * x0) ** 2).sum(1, keepdim=True) / v - torch.log(2 * math.pi * v)).sum()
    (grad,) = torch.autograd.grad(logk, xt)
    torch.testing.assert_close(sde.kernel_score(xt.detach(), x0, t), grad, rtol=1e-12, atol=1e-12)


def test_training_times_are_T_beta12_plus_eps():
    """t = T·Beta(1,2) + eps: support [eps, T + eps], mean T/3 + eps, and the Beta(1,2) CDF (KS test).

    n = 200 000: SE of the mean = T sqrt(1/18)/sqrt(n) = 0.0053, tolerance 5 SE; KS p-value > 1e-3.
    """
    from scipy import stats

    n = 200_000
    t = sde.training_times(n, generator=torch.Generator().manual_seed(0))
    assert t.shape == (n, 1)
    assert t.min().item() >= sde.EPS and t.max().item() <= sde.T + sde.EPS
    se = sde.T * math.sqrt(1 / 18) / math.sqrt(n)
    assert abs(t.double().mean().item() - (sde.T / 3 + sde.EPS)) < 5 * se
    u = ((t.double().numpy().ravel() - sde.EPS) / sde.T)
    assert stats.kstest(u, stats.beta(1, 2).cdf).pvalue > 1e-3
    # more mass at small times than uniform: P(t < T/2) = 3/4
    assert abs((u < 0.5).mean() - 0.75) < 5 * math.sqrt(0.75 * 0.25 / n)


def test_sample_prior_is_stationary_law():
    n = 200_000
    x = sde.sample_prior(n, generator=torch.Generator().manual_seed(0)).double()
    assert x.shape == (n, 2)
    # mean SE sqrt(½/n) = 0.0016, variance SE ½ sqrt(2/n) = 0.0016; tolerance 5 SE
    assert (x.mean(0).abs() < 5 * math.sqrt(0.5 / n)).all()
    assert ((x.var(0) - 0.5).abs() < 5 * 0.5 * math.sqrt(2 / n)).all()
    for bad in (0, -3):
        with pytest.raises(ValueError):
            sde.sample_prior(bad)


def test_as_times_accepts_valid_forms():
    x = torch.zeros(4, 2, dtype=torch.float64)
    for t in (0.5, torch.tensor(0.5), torch.full((4,), 0.5), torch.full((4, 1), 0.5), torch.full((1, 1), 0.5)):
        out = sde.as_times(t, 4, x)
        assert out.shape == (4, 1) and out.dtype == torch.float64
        assert (out == 0.5).all()
    # the end points themselves are valid
    assert sde.as_times(sde.EPS, 4, x).min().item() == pytest.approx(sde.EPS)
    assert sde.as_times(sde.T, 4, x).max().item() == sde.T


@pytest.mark.parametrize("t", [0.0, sde.EPS / 2, -1.0, sde.T * 1.001, 11.0, float("nan"), float("inf")])
def test_as_times_rejects_out_of_range_and_nan(t):
    x = torch.zeros(3, 2)
    with pytest.raises(ValueError):
        sde.as_times(t, 3, x)
    with pytest.raises(ValueError):  # also inside an otherwise valid vector
        sde.as_times(torch.tensor([0.5, t, 0.5]), 3, x)


def test_as_times_rejects_wrong_shape():
    x = torch.zeros(3, 2)
    for t in (torch.full((4,), 0.5), torch.full((3, 2), 0.5), torch.full((2, 1), 0.5)):
        with pytest.raises(ValueError):
            sde.as_times(t, 3, x)


def test_as_points_validation():
    out = sde.as_points([[1, 2], [3, 4]])
    assert out.dtype == torch.float32 and out.shape == (2, 2)
    x64 = torch.zeros(3, 2, dtype=torch.float64)
    assert sde.as_points(x64).dtype == torch.float64
    for bad in (torch.zeros(3, 3), torch.zeros(2), torch.zeros(3, 2, 1), torch.zeros(0, 3)):
        with pytest.raises(ValueError, match="shape"):
            sde.as_points(bad)
    for v in (float("nan"), float("inf"), -float("inf")):
        x = torch.zeros(3, 2)
        x[1, 0] = v
        with pytest.raises(ValueError, match="NaN"):
            sde.as_points(x)
