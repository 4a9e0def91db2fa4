"""The paper's potential network φ_θ(x, t) and its exact derivatives (PAPER.md, level 3).

The network is an MLP on (t, x, y) with three Softplus(β=100) hidden layers of 80 units and a scalar
output; the score is s_θ = ∇_x φ_θ. Besides the module, this file holds *explicit* derivative passes
over the raw parameters (no generic autograd): the input gradient (a hand-written backward pass) and
∂_t φ, ∇φ, Δφ for the Fokker–Planck residual (forward-mode propagation of first derivatives and of
the Laplacian through the layers, one stacked matmul per layer). The functions accept parameters
with a leading model dimension, so an ensemble of networks is evaluated with batched matmuls.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from . import sde

BETA: float = 100.0
"""Softplus sharpness of the paper's network."""
LAYERS = ("input", "hidden1", "hidden2", "output")
"""Layer names of the published weights."""

Params = tuple  # (W1, b1, W2, b2, W3, b3, W4, b4), optionally with a leading model dimension


def _lin(h: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """h W^T (+ b) for h (..., n, k), W (..., m, k), b (..., m)."""
    if h.ndim == 2 and W.ndim == 2:
        return torch.addmm(b, h, W.t()) if b is not None else h @ W.t()
    out = torch.matmul(h, W.transpose(-1, -2))
    return out + b.unsqueeze(-2) if b is not None else out


def _act(u: torch.Tensor, second: bool = False):
    """For u = βz: softplus(u) (= β·softplus_β(z)), σ(u) and, if asked, σ'(u) = σ(u)(1-σ(u)) (fused built-in kernels)."""
    sig = torch.sigmoid(u)
    sp = F.softplus(u)
    if second:
        return sp, sig, sig * (1.0 - sig)
    return sp, sig


def _scaled(p: Params):
    """Fold β into the weights: u1 = β(W1 inp + b1), u_l = W_l sp(u_{l-1}) + β b_l, φ = W4 sp(u3)/β + b4."""
    W1, b1, W2, b2, W3, b3, W4, b4 = p
    return BETA * W1, BETA * b1, W2, BETA * b2, W3, BETA * b3, W4 / BETA, b4


def potential_fn(p: Params, inp: torch.Tensor) -> torch.Tensor:
    """φ_θ at inputs inp = (t, x, y) of shape (..., n, 3) → (..., n)."""
    W1, b1, W2, b2, W3, b3, W4, b4 = _scaled(p)
    h = F.softplus(_lin(inp, W1, b1))
    h = F.softplus(_lin(h, W2, b2))
    h = F.softplus(_lin(h, W3, b3))
    return _lin(h, W4, b4)[..., 0]


def input_grad_fn(p: Params, inp: torch.Tensor) -> torch.Tensor:
    """∇_{(t,x,y)} φ_θ by an explicit backward pass through the layers → (..., n, 3)."""
    W1, b1, W2, b2, W3, b3, W4, b4 = _scaled(p)
    h1, s1 = _act(_lin(inp, W1, b1))
    h2, s2 = _act(_lin(h1, W2, b2))
    s3 = torch.sigmoid(_lin(h2, W3, b3))
    g = s3 * W4.squeeze(-2).unsqueeze(-2)  # dφ/du3, W4 already divided by β
    g = torch.matmul(g, W3) * s2
    g = torch.matmul(g, W2) * s1
    return torch.matmul(g, W1)


def fp_terms_fn(p: Params, inp: torch.Tensor):
    """φ, ∂_tφ, ∇_xφ and Δ_xφ by forward-mode propagation of (value, ∂_t, ∂_x, ∂_y, Laplacian).

    For u = W h + b and h' = sp(u): ∂h' = σ(u) ∂u and Δh' = σ'(u)(|∂_x u|² + |∂_y u|²) + σ(u) Δu,
    so the Laplacian needs only one extra stream, not the two diagonal second derivatives.
    """
    W1, b1, W2, b2, W3, b3, W4, b4 = _scaled(p)
    u = _lin(inp, W1, b1)
    h, s, q = _act(u, second=True)
    Wt, Wx, Wy = W1[..., 0].unsqueeze(-2), W1[..., 1].unsqueeze(-2), W1[..., 2].unsqueeze(-2)
    d_t, d_x, d_y = s * Wt, s * Wx, s * Wy
    lap = q * (Wx * Wx + Wy * Wy)
    for W, b in ((W2, b2), (W3, b3)):
        n = h.shape[-2]
        z = _lin(torch.cat([h, d_t, d_x, d_y, lap], dim=-2), W)
        u = z[..., :n, :] + b.unsqueeze(-2)
        ut, ux, uy, ul = z[..., n:2 * n, :], z[..., 2 * n:3 * n, :], z[..., 3 * n:4 * n, :], z[..., 4 * n:, :]
        h, s, q = _act(u, second=True)
        d_t, d_x, d_y = s * ut, s * ux, s * uy
        lap = q * (ux * ux + uy * uy) + s * ul
    n = h.shape[-2]
    out = _lin(torch.cat([h, d_t, d_x, d_y, lap], dim=-2), W4)[..., 0]
    phi = out[..., :n] + b4
    return phi, out[..., n:2 * n], torch.stack([out[..., 2 * n:3 * n], out[..., 3 * n:4 * n]], dim=-1), out[..., 4 * n:]


def make_input(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Network input (t, x, y), the column order of the published weights."""
    return torch.cat([t.to(x.dtype), x], dim=-1)


class PotentialMLP(nn.Module):
    """φ_θ(x, t): MLP (3 → 80 → 80 → 80 → 1), Softplus(β=100); s_θ = ∇_x φ_θ (PAPER.md, level 3)."""

    def __init__(self, width: int = 80, seed: int | None = None):
        super().__init__()
        if seed is not None:
            torch.manual_seed(int(seed))
        self.input = nn.Linear(3, width)
        self.hidden1 = nn.Linear(width, width)
        self.hidden2 = nn.Linear(width, width)
        self.output = nn.Linear(width, 1)

    def params(self) -> Params:
        """The weights in the order the functional passes expect."""
        return tuple(t for layer in LAYERS for t in (getattr(self, layer).weight, getattr(self, layer).bias))

    def _inp(self, x, t):
        x = sde.as_points(x).to(self.input.weight.device, self.input.weight.dtype)
        t = sde.as_times(t, x.shape[0], x)
        return make_input(x, t)

    def forward(self, x, t) -> torch.Tensor:
        """φ_θ(x, t), shape (n,)."""
        return potential_fn(self.params(), self._inp(x, t))

    potential = forward

    def score(self, x, t) -> torch.Tensor:
        """s_θ(x, t) = ∇_x φ_θ, shape (n, 2), by the explicit backward pass (differentiable in θ)."""
        return input_grad_fn(self.params(), self._inp(x, t))[:, 1:]

    def fp_terms(self, x, t):
        """(φ, ∂_tφ, ∇_xφ, Δ_xφ) at (x, t), exact, differentiable in θ."""
        return fp_terms_fn(self.params(), self._inp(x, t))


def load_published(path) -> PotentialMLP:
    """Load a published `<dataset>_w<w_R>.npz` of the authors' release (keys input.weight … output.bias)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"published weights not found: {path}")
    arrays = np.load(path)
    expected = {f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")}
    if set(arrays.files) != expected:
        raise ValueError(f"{path} has keys {sorted(arrays.files)}, expected {sorted(expected)}")
    width = arrays["input.weight"].shape[0]
    net = PotentialMLP(width=width)
    net.load_state_dict({k: torch.from_numpy(np.asarray(arrays[k], dtype=np.float32)) for k in expected})
    return net.eval()
