"""The paper's potential network φ_θ(x, t) and its exact derivatives ({eq}`potential`).

The network is an MLP on (t, x, y) with three Softplus(β=100) hidden layers of 80 units and a scalar
output; the score is s_θ = ∇_x φ_θ. Besides the module, this file holds *explicit* derivative passes
over the raw parameters (no generic autograd): the input gradient (a hand-written backward pass) and
∂_t φ, ∇φ, Δφ for the Fokker–Planck residual (forward-mode propagation of first derivatives and of
the Laplacian through the layers, one stacked matmul per layer). The functions accept parameters
with a leading model dimension, so an ensemble of networks is evaluated with batched matmuls.
"""
from __future__ import annotations

import contextlib
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
    """h W^T (+ b) for h (..., n, k), W (..., m, k), b (..., m).

    For the input layer (k = 3) W^T is made contiguous: BLAS runs that skinny product, and its weight gradient,
    about 2.5× faster than on the transposed view.
    """
    Wt = W.transpose(-1, -2)
    if W.shape[-1] <= 4:
        Wt = Wt.contiguous()
    if h.ndim == 2 and W.ndim == 2:
        return torch.addmm(b, h, Wt) if b is not None else h @ Wt
    out = torch.matmul(h, Wt)
    return out + b.unsqueeze(-2) if b is not None else out


def _act_values(u: torch.Tensor, second: bool, inplace: bool = False):
    """softplus(u) = relu(u) - log σ(|u|) and σ(u) from one sigmoid (F.softplus is several times slower on CPU).

    σ(|u|) = max(σ, 1 - σ) = |σ - ½| + ½. With `inplace` the softplus overwrites u (a temporary of the caller).
    """
    sig = torch.sigmoid(u)
    m = (sig - 0.5).abs_().add_(0.5)
    q = (1.0 - sig).mul_(sig) if second else None
    sp = (u.clamp_(min=0.0) if inplace else torch.relu(u)).sub_(m.log_())
    return (sp, sig, q) if second else (sp, sig)


class _Act(torch.autograd.Function):
    """The activation triple with a hand-written backward: dsp = σ du, dσ = σ' du, dσ' = σ'(1 - 2σ) du."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, second: bool):
        out = _act_values(u, second)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(*out[1:])
        return out

    @staticmethod
    def backward(ctx, g_sp, g_sig, g_q=None):
        saved = ctx.saved_tensors
        sig = saved[0]
        q = saved[1] if len(saved) > 1 else None
        grad = None
        if g_sp is not None:
            grad = g_sp * sig
        if g_sig is not None:
            t = g_sig * (q if q is not None else sig * (1.0 - sig))
            grad = t if grad is None else grad.add_(t)
        if g_q is not None:
            t = g_q * q * (1.0 - 2.0 * sig)
            grad = t if grad is None else grad.add_(t)
        return grad, None


def _act(u: torch.Tensor, second: bool = False):
    """For u = βz: softplus(u) (= β·softplus_β(z)), σ(u) and, if asked, σ'(u) = σ(u)(1-σ(u)).

    u must be a temporary (a layer's pre-activation): without autograd it is overwritten by the softplus.
    """
    if _graph(u):
        return _Act.apply(u, second)
    return _act_values(u, second, inplace=True)


def _graph(*tensors) -> bool:
    """Whether autograd records these operations (else the passes work in place)."""
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


@contextlib.contextmanager
def flush_denormals():
    """Flush float denormals to zero (FTZ/DAZ) inside the block: σ(u) of a saturated unit (u < -87) is a denormal,
    and arithmetic on denormals is about twice as slow on x86; the values lost are below 1.2e-38. PyTorch has no
    getter for the mode, so the block restores its default (off)."""
    changed = torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if changed:
            torch.set_flush_denormal(False)


def scaled_params(p: Params):
    """Fold β into the weights: u1 = β(W1 inp + b1), u_l = W_l sp(u_{l-1}) + β b_l, φ = W4 sp(u3)/β + b4."""
    W1, b1, W2, b2, W3, b3, W4, b4 = p
    return BETA * W1, BETA * b1, W2, BETA * b2, W3, BETA * b3, W4 / BETA, b4


def potential_fn(p: Params, inp: torch.Tensor) -> torch.Tensor:
    """φ_θ at inputs inp = (t, x, y) of shape (..., n, 3) → (..., n)."""
    W1, b1, W2, b2, W3, b3, W4, b4 = scaled_params(p)
    h = F.softplus(_lin(inp, W1, b1))
    h = F.softplus(_lin(h, W2, b2))
    h = F.softplus(_lin(h, W3, b3))
    return _lin(h, W4, b4)[..., 0]


def input_grad_fn(p: Params, inp: torch.Tensor) -> torch.Tensor:
    """∇_{(t,x,y)} φ_θ by an explicit backward pass through the layers → (..., n, 3)."""
    return input_grad_scaled(scaled_params(p), inp)


def input_grad_scaled(sp: Params, inp: torch.Tensor) -> torch.Tensor:
    """input_grad_fn for weights already passed through scaled_params (a sampler scales them once, not once per chunk)."""
    W1, b1, W2, b2, W3, b3, W4, b4 = sp
    h1, s1 = _act(_lin(inp, W1, b1))
    h2, s2 = _act(_lin(h1, W2, b2))
    s3 = torch.sigmoid(_lin(h2, W3, b3))
    if _graph(inp, *sp):
        g = s3 * W4.squeeze(-2).unsqueeze(-2)  # dφ/du3, W4 already divided by β
        g = torch.matmul(g, W3) * s2
        g = torch.matmul(g, W2) * s1
    else:  # the same products, in place
        g = s3.mul_(W4.squeeze(-2).unsqueeze(-2))
        g = torch.matmul(g, W3).mul_(s2)
        g = torch.matmul(g, W2).mul_(s1)
    # g W1 with W1 (80 × 3) passed as the transpose of a contiguous (3 × 80): the same product, about 2× faster in BLAS
    return torch.matmul(g, W1.transpose(-1, -2).contiguous().transpose(-1, -2))


def fp_terms_fn(p: Params, inp: torch.Tensor):
    """φ, ∂_tφ, ∇_xφ and Δ_xφ by forward-mode propagation of (value, ∂_t, ∂_x, ∂_y, Laplacian).

    For u = W h + b and h' = sp(u): ∂h' = σ(u) ∂u and Δh' = σ'(u)(|∂_x u|² + |∂_y u|²) + σ(u) Δu,
    so the Laplacian needs only one extra stream, not the two diagonal second derivatives. The five
    streams are stacked as (..., 5, n, width) so each layer is one matmul; without autograd the
    next layer's streams are written over that matmul's output.
    """
    return fp_terms_scaled(scaled_params(p), inp)


def fp_terms_scaled(sp: Params, inp: torch.Tensor):
    """fp_terms_fn for weights already passed through scaled_params."""
    W1, b1, W2, b2, W3, b3, W4, b4 = sp
    graph = _graph(inp, *sp)
    h, s, q = _act(_lin(inp, W1, b1), second=True)
    Wt, Wx, Wy = W1[..., 0].unsqueeze(-2), W1[..., 1].unsqueeze(-2), W1[..., 2].unsqueeze(-2)
    S = torch.stack([h, s * Wt, s * Wx, s * Wy, q * (Wx * Wx + Wy * Wy)], dim=-3)
    n = h.shape[-2]
    for W, b in ((W2, b2), (W3, b3)):
        z = _lin(S.flatten(-3, -2), W).unflatten(-2, (5, n))
        if graph:  # split (not slicing) keeps the backward to a single cat; one broadcast product for the three gradients
            u, d, ul = z.split([1, 3, 1], dim=-3)
            h, s, q = _act(u + b.unsqueeze(-2).unsqueeze(-3), second=True)
            sq = d[..., 1:, :, :].square().sum(-3, keepdim=True)
            S = torch.cat([h, s * d, q * sq + s * ul], dim=-3)
        else:
            u, _, ux, uy, ul = z.unbind(-3)
            _, s, q = _act(u.add_(b.unsqueeze(-2)), second=True)  # softplus written into z[..., 0, :, :]
            lap = (ux * ux).addcmul_(uy, uy).mul_(q)
            ul.mul_(s).add_(lap)
            z[..., 1:4, :, :].mul_(s.unsqueeze(-3))
            S = z
    phi, dt, dx, dy, lap = _lin(S.flatten(-3, -2), W4)[..., 0].unflatten(-1, (5, n)).unbind(-2)
    return phi + b4, dt, torch.stack([dx, dy], dim=-1), lap


def make_input(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Network input (t, x, y), the column order of the published weights."""
    return torch.cat([t.to(x.dtype), x], dim=-1)


class PotentialMLP(nn.Module):
    """φ_θ(x, t): MLP (3 → 80 → 80 → 80 → 1), Softplus(β=100); s_θ = ∇_x φ_θ ({eq}`potential`)."""

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


class ScoreMLP(nn.Module):
    """A plain score network s_θ(x, t) (not the gradient of a potential): MLP on (t, x, y) with SiLU, output (n, 2)."""

    def __init__(self, width: int = 128, depth: int = 3, seed: int | None = None):
        super().__init__()
        if seed is not None:
            torch.manual_seed(int(seed))
        layers, k = [], 3
        for _ in range(depth):
            layers += [nn.Linear(k, width), nn.SiLU()]
            k = width
        self.net = nn.Sequential(*layers, nn.Linear(k, 2))

    def forward(self, x, t) -> torch.Tensor:
        """s_θ(x, t), shape (n, 2)."""
        x = torch.as_tensor(x, dtype=self.net[0].weight.dtype)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.reshape(1, 1).expand(x.shape[0], 1) if t.numel() == 1 else t.reshape(-1, 1)
        return self.net(torch.cat([t, x], dim=-1))

    score = forward
