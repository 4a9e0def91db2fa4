"""The potential network φ_θ and its explicit derivative passes ({eq}`potential`).

Reference for every fast path is plain autograd of the module's forward pass.  Accuracy of the
comparison (max |fast - autograd| / max |autograd| per output), measured on 2 000 points of
[-3.5, 3.5]² × [eps, T] for seeds 0, 1 and published weights:
  float32: ≤ 5.3e-7 for φ, ∂_tφ, ∇φ and the score, ≤ 1.3e-6 for Δφ (checker w0.0)  -> tolerance 1e-5;
  float64: ≤ 1.1e-8, limited by the *reference*: F.softplus (like nn.Softplus(β=100) of the paper)
           returns u itself for u > 20, an error e^{-20} ≈ 2e-9 that the exact fast pass does not make
           -> tolerance 1e-7.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scoregap import losses, models

TOL = {torch.float32: 1e-5, torch.float64: 1e-7}


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


def _points(n=2000, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 2, generator=g, dtype=torch.float64) * 7 - 3.5).to(dtype)
    t = (torch.rand(n, 1, generator=g, dtype=torch.float64) * 10 + 1e-5).to(dtype)
    return x, t


def _autograd_score(model, x, t, create_graph=False):
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x, t).sum(), x, create_graph=create_graph)
    return g


def _check_fast_paths(model, dtype):
    model = model.to(dtype)
    x, t = _points(dtype=dtype)
    tol = TOL[dtype]
    s = model.score(x, t)
    assert s.shape == (2000, 2) and s.dtype == dtype
    assert _rel(s, _autograd_score(model, x, t)) < tol
    fast = model.fp_terms(x, t)
    ref = losses._terms_autograd(lambda a, b: model(a, b), x, t)  # the lambda hides the fast path
    for name, f, r in zip(("phi", "dt", "grad", "lap"), fast, ref):
        assert f.shape == r.shape, name
        assert _rel(f.detach(), r.detach()) < tol, (name, _rel(f.detach(), r.detach()))
    # φ of the fast pass is the forward pass; ∇φ of fp_terms is the score
    assert _rel(fast[0].detach(), model(x, t).detach()) < tol
    assert _rel(fast[2].detach(), s.detach()) < tol


def test_architecture_matches_published_layout():
    m = models.PotentialMLP(seed=0)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "input.weight": (80, 3), "input.bias": (80,),
        "hidden1.weight": (80, 80), "hidden1.bias": (80,),
        "hidden2.weight": (80, 80), "hidden2.bias": (80,),
        "output.weight": (1, 80), "output.bias": (1,),
    }
    assert models.LAYERS == ("input", "hidden1", "hidden2", "output")
    assert models.BETA == 100.0
    # seeded construction is reproducible, different seeds differ
    assert torch.equal(models.PotentialMLP(seed=0).input.weight, m.input.weight)
    assert not torch.equal(models.PotentialMLP(seed=1).input.weight, m.input.weight)


def test_forward_is_softplus_beta100_mlp_on_t_x_y():
    """φ = output(sp(hidden2(sp(hidden1(sp(input([t, x, y]))))))) with nn.Softplus(beta=100)."""
    m = models.PotentialMLP(seed=3).double()
    x, t = _points(dtype=torch.float64)
    sp = torch.nn.Softplus(beta=100)
    h = sp(m.input(torch.cat([t, x], 1)))
    h = sp(m.hidden2(sp(m.hidden1(h))))
    ref = m.output(h)[:, 0]
    torch.testing.assert_close(m(x, t), ref, rtol=1e-12, atol=1e-12)
    assert m(x, t).shape == (2000,)
    # the input order matters: swapping t and x gives something else
    assert not torch.allclose(m(x, t), m.output(sp(m.hidden2(sp(m.hidden1(sp(m.input(torch.cat([x, t], 1))))))))[:, 0])


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_paths_match_autograd_random_init(seed, dtype):
    _check_fast_paths(models.PotentialMLP(seed=seed), dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_paths_match_autograd_published(published_weights, dtype):
    for key in [("checker", "0.0"), ("checker", "10.0"), ("blob", "0.0"), ("circles2", "1.0")]:
        _check_fast_paths(models.load_published(published_weights[key]), dtype)


def test_parameter_gradients_through_fast_paths_match_autograd():
    """Training differentiates the explicit passes w.r.t. θ: their parameter gradients must equal those of
    the nested-autograd versions (float64; measured relative difference ≤ 2.4e-8, tolerance 1e-6)."""
    m = models.PotentialMLP(seed=5).double()
    x, t = _points(300, dtype=torch.float64, seed=1)
    g = torch.Generator().manual_seed(2)
    c_s = torch.randn(300, 2, generator=g, dtype=torch.float64)
    c = [torch.randn(300, generator=g, dtype=torch.float64) for _ in range(3)] + [torch.randn(300, 2, generator=g, dtype=torch.float64)]
    params = list(m.parameters())

    def grads(loss):  # the output bias does not reach the score: its gradient is zero (None)
        gs = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(q) if g is None else g for g, q in zip(gs, params)]

    # score (DSM uses it)
    g_fast = grads((m.score(x, t) * c_s).sum())
    g_ref = grads((_autograd_score(m, x, t, create_graph=True) * c_s).sum())
    for a, b in zip(g_fast[:-1], g_ref[:-1]):
        assert _rel(a, b) < 1e-6
    assert (g_fast[-1] == 0).all() and (g_ref[-1] == 0).all()
    # all four FP terms (the regulariser uses them)
    def combo(terms):
        phi, dt, grad, lap = terms
        return (phi * c[0] + dt * c[1] + lap * c[2]).sum() + (grad * c[3]).sum()
    g_fast = grads(combo(m.fp_terms(x, t)))
    g_ref = grads(combo(losses._terms_autograd(lambda a, b: m(a, b), x, t)))
    for a, b in zip(g_fast, g_ref):
        assert _rel(a, b) < 1e-6
    # and the FP residual through losses.fp_residual (fast) vs the same with the fast path hidden
    r_fast = losses.fp_residual(m, x, t)
    r_ref = losses.fp_residual(lambda a, b: m(a, b), x, t)
    assert _rel(r_fast.detach(), r_ref.detach()) < 1e-7
    for a, b in zip(grads((r_fast**2).mean())[:-1], grads((r_ref**2).mean())[:-1]):
        assert _rel(a, b) < 1e-6


def test_ensemble_form_matches_per_model_results():
    """Parameters stacked along a leading model dimension and inputs (2, n, 3) give each model's own
    results (float32; batched vs unbatched matmuls and fast pass vs autograd differ only by rounding:
    measured ≤ 4.6e-7 relative, tolerance 1e-5)."""
    m1, m2 = models.PotentialMLP(seed=0), models.PotentialMLP(seed=1)
    p = tuple(torch.stack([a, b]) for a, b in zip(m1.params(), m2.params()))
    x1, t1 = _points(400, seed=0)
    x2, t2 = _points(400, seed=1)
    inp = torch.stack([models.make_input(x1, t1), models.make_input(x2, t2)])
    assert inp.shape == (2, 400, 3)
    with torch.no_grad():
        phi_e = models.potential_fn(p, inp)
        grad_e = models.input_grad_fn(p, inp)
        terms_e = models.fp_terms_fn(p, inp)
    assert phi_e.shape == (2, 400) and grad_e.shape == (2, 400, 3)
    assert [tuple(z.shape) for z in terms_e] == [(2, 400), (2, 400), (2, 400, 2), (2, 400)]
    for k, (m, x, t) in enumerate(((m1, x1, t1), (m2, x2, t2))):
        with torch.no_grad():
            assert _rel(phi_e[k], m(x, t)) < 1e-5
            assert _rel(grad_e[k, :, 1:], m.score(x, t)) < 1e-5
            for e, f in zip(terms_e, m.fp_terms(x, t)):
                assert _rel(e[k], f) < 1e-5
        # and against plain autograd, including ∂_tφ in the input gradient
        xr, tr = x.clone().requires_grad_(True), t.clone().requires_grad_(True)
        gx, gt = torch.autograd.grad(m(xr, tr).sum(), (xr, tr))
        assert _rel(grad_e[k, :, 1:], gx) < 1e-5
        assert _rel(grad_e[k, :, 0], gt[:, 0]) < 1e-5
    # the two models really differ (the test would not notice swapped slices otherwise)
    assert _rel(phi_e[0], phi_e[1]) > 0.1


def test_load_published_rejects_missing_and_malformed(tmp_path):
    with pytest.raises(FileNotFoundError):
        models.load_published(tmp_path / "nope.npz")
    m = models.PotentialMLP(seed=0)
    arrays = {k: v.numpy() for k, v in m.state_dict().items()}
    np.savez(tmp_path / "good.npz", **arrays)
    loaded = models.load_published(tmp_path / "good.npz")
    x, t = _points(50)
    torch.testing.assert_close(loaded(x, t), m(x, t))
    assert not loaded.training
    del arrays["output.bias"]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError):
        models.load_published(tmp_path / "bad.npz")


@pytest.mark.parametrize("ensemble", [False, True])
def test_in_place_passes_without_autograd_match_the_graph_passes(ensemble):
    """Without autograd the score and FP passes work in place over their temporaries: same numbers as the
    recorded (autograd-ready) passes to float32 rounding (measured ≤ 3e-7 relative), and the inputs and
    parameters are left untouched."""
    torch.manual_seed(3)
    nets = [models.PotentialMLP() for _ in range(2)]
    if ensemble:
        p = tuple(torch.stack([a, b]) for a, b in zip(nets[0].params(), nets[1].params()))
    else:
        p = nets[0].params()
    x, t = _points(n=1500)
    inp = models.make_input(x, t)
    inp = inp.expand(2, *inp.shape).contiguous() if ensemble else inp
    before = [w.detach().clone() for w in p] + [inp.clone()]
    graph_score = models.input_grad_fn(p, inp)  # parameters require grad: recorded pass
    graph_terms = models.fp_terms_fn(p, inp)
    assert graph_score.requires_grad
    with torch.no_grad():
        fast_score = models.input_grad_fn(p, inp)
        fast_terms = models.fp_terms_fn(p, inp)
    assert not fast_score.requires_grad
    assert _rel(fast_score, graph_score.detach()) < 1e-6
    for name, f, g in zip(("phi", "dt", "grad", "lap"), fast_terms, graph_terms):
        assert f.shape == g.shape, name
        assert _rel(f, g.detach()) < 1e-6, (name, _rel(f, g.detach()))
    for a, b in zip(before, [w.detach() for w in p] + [inp]):
        assert torch.equal(a, b)
