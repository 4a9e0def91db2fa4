"""The paper's data distributions and their exact time marginals p_t under the OU process ({eq}`marginal`)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import sde
from . import sde as sde_mod

NAMES = ("blob", "circles2", "checker", "gaussian")
"""Valid data-set names for `get`."""
PAPER_NAMES = ("blob", "circles2", "checker")
"""The three data sets of the paper."""
LABELS = {"blob": "mixture", "circles2": "circles", "checker": "checkerboard", "gaussian": "Gaussian"}
"""Human-readable names used in tables and figures."""


def _generator(seed, generator, device="cpu") -> torch.Generator | None:
    if generator is not None:
        return generator
    if seed is None:
        return None
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _check_n(n) -> int:
    if isinstance(n, bool) or int(n) != n or int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    return int(n)


class Distribution:
    """A 2-D data law with exact log p_t and ∇log p_t under the forward OU SDE."""

    name: str = ""

    def _kw(self, g) -> dict:
        """Keyword arguments placing random draws on the generator's device."""
        return {"generator": g, "device": g.device if g is not None else "cpu"}

    def sample(self, n: int, seed: int | None = None, generator: torch.Generator | None = None, device="cpu") -> torch.Tensor:
        """Draw n i.i.d. points from p_0 as a float32 tensor (n, 2) (on the generator's device if one is given)."""
        n = _check_n(n)
        g = _generator(seed, generator, device)
        return self._sample(n, g).to(torch.float32)

    def log_prob(self, x, t, sde: "sde_mod.SDE" = sde.OU) -> torch.Tensor:
        """Exact log p_t(x) of the marginal under the forward `sde` (default the paper's OU), shape (n,), in x's dtype."""
        x = sde_mod.as_points(x)
        sde = sde_mod.get(sde)
        t = sde.as_times(t, x.shape[0], x)
        return self._log_prob(x.double(), t.double(), sde).to(x.dtype)

    def score(self, x, t, sde: "sde_mod.SDE" = sde.OU) -> torch.Tensor:
        """Exact score ∇_x log p_t(x) under the forward `sde`, shape (n, 2), by autograd of the closed-form log p_t."""
        x = sde_mod.as_points(x)
        sde = sde_mod.get(sde)
        t = sde.as_times(t, x.shape[0], x)
        with torch.enable_grad():
            x64 = x.detach().double().requires_grad_(True)
            lp = self._log_prob(x64, t.detach().double(), sde)
            (g,) = torch.autograd.grad(lp.sum(), x64)
        return g.to(x.dtype)

    def __call__(self, x, t) -> torch.Tensor:
        return self.score(x, t)

    def score_under(self, sde: "sde_mod.SDE"):
        """The exact score (x, t) → ∇log p_t(x) under `sde`, as a callable for the samplers."""
        return lambda x, t: self.score(x, t, sde)

    def _sample(self, n: int, g) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _log_prob(self, x: torch.Tensor, t: torch.Tensor, sde) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Gaussian(Distribution):
    """N(mean, cov); p_t = N(a mean, a² cov + v I) with a = e^{-t}, v = ½(1 - e^{-2t})."""

    mean: tuple = (0.5, -0.3)
    cov: tuple = ((1.0, 0.3), (0.3, 0.25))
    name: str = "gaussian"

    def _sample(self, n, g):
        kw = self._kw(g)
        L = torch.linalg.cholesky(torch.tensor(self.cov, dtype=torch.float64)).to(kw["device"])
        z = torch.randn(n, 2, dtype=torch.float64, **kw)
        return torch.tensor(self.mean, dtype=torch.float64, device=kw["device"]) + z @ L.T

    def marginal(self, t: float, sde: "sde_mod.SDE" = sde.OU):
        """Mean and covariance of p_t under `sde` (default the paper's OU) as float64 tensors."""
        tt = torch.tensor(float(t), dtype=torch.float64)
        a, v = float(sde.kernel_mean_coef(tt)), float(sde.kernel_var(tt))
        m = a * torch.tensor(self.mean, dtype=torch.float64)
        c = a * a * torch.tensor(self.cov, dtype=torch.float64) + v * torch.eye(2, dtype=torch.float64)
        return m, c

    def _log_prob(self, x, t, sde):
        a = sde.kernel_mean_coef(t)
        v = sde.kernel_var(t)
        c = torch.tensor(self.cov, dtype=x.dtype, device=x.device)
        s11 = a[:, 0] ** 2 * c[0, 0] + v[:, 0]
        s22 = a[:, 0] ** 2 * c[1, 1] + v[:, 0]
        s12 = a[:, 0] ** 2 * c[0, 1]
        det = s11 * s22 - s12**2
        d = x - a * torch.tensor(self.mean, dtype=x.dtype, device=x.device)
        quad = (s22 * d[:, 0] ** 2 - 2 * s12 * d[:, 0] * d[:, 1] + s11 * d[:, 1] ** 2) / det
        return -0.5 * quad - 0.5 * torch.log(det) - math.log(2 * math.pi)


@dataclass(frozen=True)
class GaussianMixture(Distribution):
    """Equal-weight isotropic mixture scaled by `scale`; p_t is again a mixture (closed form)."""

    centres: tuple = ((0, 0), (2, 2), (2, -2), (-2, 2), (-2, -2), (4, 0), (-4, 0), (0, 4), (0, -4))
    var: float = 0.2
    scale: float = 0.65
    name: str = "blob"

    def _sample(self, n, g):
        kw = self._kw(g)
        c = torch.tensor(self.centres, dtype=torch.float64, device=kw["device"])
        k = torch.randint(len(self.centres), (n,), **kw)
        z = torch.randn(n, 2, dtype=torch.float64, **kw)
        return self.scale * (c[k] + math.sqrt(self.var) * z)

    def _log_prob(self, x, t, sde):
        mu = self.scale * torch.tensor(self.centres, dtype=x.dtype, device=x.device)  # (K, 2)
        a = sde.kernel_mean_coef(t)  # (n, 1)
        s2 = a**2 * (self.scale**2 * self.var) + sde.kernel_var(t)  # (n, 1)
        d2 = ((x[:, None, :] - a[:, :, None] * mu[None]) ** 2).sum(-1)  # (n, K)
        logc = -0.5 * d2 / s2 - torch.log(2 * math.pi * s2)
        return torch.logsumexp(logc, dim=1) - math.log(len(self.centres))


def _log_ndtr_diff(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """log(Φ(u) - Φ(w)) for u > w, accurate in both tails (reflect so the interval lies in the left tail)."""
    flip = (u + w) > 0
    u2 = torch.where(flip, -w, u)
    w2 = torch.where(flip, -u, w)
    lu = torch.special.log_ndtr(u2)
    lw = torch.special.log_ndtr(w2)
    return lu + torch.log(-torch.expm1(lw - lu))


@dataclass(frozen=True)
class Checkerboard(Distribution):
    """Uniform on squares of side `side`; p_t is a sum over squares of products of Φ differences."""

    corners: tuple = ((-3, -3), (0, -3), (-1.5, -1.5), (1.5, -1.5), (-3, 0), (0, 0), (-1.5, 1.5), (1.5, 1.5))
    side: float = 1.5
    name: str = "checker"

    def _sample(self, n, g):
        kw = self._kw(g)
        c = torch.tensor(self.corners, dtype=torch.float64, device=kw["device"])
        k = torch.randint(len(self.corners), (n,), **kw)
        u = torch.rand(n, 2, dtype=torch.float64, **kw)
        return c[k] + self.side * u

    def _log_prob(self, x, t, sde):
        lo = torch.tensor(self.corners, dtype=x.dtype, device=x.device)  # (K, 2)
        hi = lo + self.side
        a = sde.kernel_mean_coef(t)[:, :, None]  # (n, 1, 1)
        sd = sde.kernel_var(t).sqrt()[:, :, None]
        xx = x[:, None, :]  # (n, 1, 2)
        per_dim = _log_ndtr_diff((xx - a * lo[None]) / sd, (xx - a * hi[None]) / sd) - torch.log(a)
        area = len(self.corners) * self.side**2
        return torch.logsumexp(per_dim.sum(-1), dim=1) - math.log(area)


@dataclass(frozen=True)
class Circles(Distribution):
    """Two noisy rings, radius R ~ ½N(μ1, s²) + ½N(μ2, s²), uniform angle.

    p_t(x) = Σ_k ½ (2πv)^{-1/2} N(ρ; aμ_k, a²s² + v) E_{R~post_k}[I0e(a R ρ / v)], ρ = |x|:
    the angle integrates to a Bessel I0 (scaled, I0e), the radius is a Gaussian–Hermite quadrature
    over the Gaussian posterior of R given ρ, which stays accurate as t → 0.
    (Rings are sampled as in the published code, r·(cos θ, sin θ) with r Gaussian; a negative r is a point
    on the opposite side, which the signed-R form of the angular integral accounts for exactly.)
    """

    radii: tuple = (1.3, 2.8)
    radius_sd: float = 0.2
    n_nodes: int = 48
    name: str = "circles2"

    def _sample(self, n, g):
        kw = self._kw(g)
        k = torch.randint(2, (n,), **kw)
        r = torch.tensor(self.radii, dtype=torch.float64, device=kw["device"])[k] + self.radius_sd * torch.randn(n, dtype=torch.float64, **kw)
        th = 2 * math.pi * torch.rand(n, dtype=torch.float64, **kw)
        return torch.stack([r * torch.cos(th), r * torch.sin(th)], dim=1)

    def _log_prob(self, x, t, sde):
        nodes, weights = np.polynomial.hermite.hermgauss(self.n_nodes)
        xi = torch.tensor(nodes, dtype=x.dtype, device=x.device)
        lw = torch.tensor(np.log(weights / math.sqrt(math.pi)), dtype=x.dtype, device=x.device)
        rho = torch.sqrt((x**2).sum(1, keepdim=True) + 1e-300)  # (n, 1)
        a = sde.kernel_mean_coef(t)
        v = sde.kernel_var(t)
        s2 = self.radius_sd**2
        mu = torch.tensor(self.radii, dtype=x.dtype, device=x.device)[None, :]  # (1, K)
        ev_var = a**2 * s2 + v  # (n, 1)
        log_ev = -0.5 * (rho - a * mu) ** 2 / ev_var - 0.5 * torch.log(2 * math.pi * ev_var)  # (n, K)
        post_var = 1.0 / (1.0 / s2 + a**2 / v)  # (n, 1)
        post_mean = post_var * (mu / s2 + a * rho / v)  # (n, K)
        R = post_mean[:, :, None] + torch.sqrt(2 * post_var)[:, :, None] * xi  # (n, K, Q)
        z = (a * rho / v)[:, :, None] * R  # signed R: exp(-(ρ²+a²R²)/2v) I0(z) = exp(-(ρ-aR)²/2v) I0e(|z|) e^{|z|-z}
        log_e = torch.logsumexp(torch.log(torch.special.i0e(z.abs())) + (z.abs() - z) + lw, dim=-1)  # (n, K)
        terms = math.log(0.5) - 0.5 * torch.log(2 * math.pi * v) + log_ev + log_e
        return torch.logsumexp(terms, dim=1)


class SampleOnly(Distribution):
    """A data law given by a sampler only: p_t has no closed form (log_prob and score say so)."""

    def _log_prob(self, x, t, sde):
        raise ValueError(f"data set {self.name!r} has no closed-form p_t (it is given by samples only); "
                         f"exact log_prob and score exist for {', '.join(NAMES)}")


@dataclass(frozen=True)
class TwoMoons(SampleOnly):
    """Two interleaved half circles of radius 1 (as scikit-learn's make_moons), centred, scaled by `scale`, Gaussian noise."""

    noise: float = 0.1
    scale: float = 1.6
    name: str = "moons"

    def _sample(self, n, g):
        kw = self._kw(g)
        k = torch.randint(2, (n,), **kw).to(torch.float64)
        th = math.pi * torch.rand(n, dtype=torch.float64, **kw)
        outer = torch.stack([torch.cos(th), torch.sin(th)], 1)
        inner = torch.stack([1 - torch.cos(th), 0.5 - torch.sin(th)], 1)
        x = torch.where(k[:, None] > 0, inner, outer) - torch.tensor([0.5, 0.25], dtype=torch.float64, device=kw["device"])
        return self.scale * (x + self.noise * torch.randn(n, 2, dtype=torch.float64, **kw))


@dataclass(frozen=True)
class Spiral(SampleOnly):
    """One arm r = radius·θ/(turns·2π), θ ∈ [0, turns·2π] uniform in arc length (θ ∝ √u), with Gaussian noise."""

    turns: float = 1.5
    radius: float = 3.0
    noise: float = 0.1
    name: str = "spiral"

    def _sample(self, n, g):
        kw = self._kw(g)
        th_max = 2 * math.pi * self.turns
        th = th_max * torch.sqrt(torch.rand(n, dtype=torch.float64, **kw))
        r = self.radius * th / th_max
        x = torch.stack([r * torch.cos(th), r * torch.sin(th)], 1)
        return x + self.noise * torch.randn(n, 2, dtype=torch.float64, **kw)


class Samples(SampleOnly):
    """The empirical law of given points (n, 2): `sample` draws from them with replacement (without: all of them, n = len)."""

    def __init__(self, points, name: str = "samples"):
        self.points = sde_mod.as_points(points, "data").detach().double().cpu()
        self.name = name

    def _sample(self, n, g):
        if n == self.points.shape[0] and g is None:
            return self.points.clone()
        return self.points[torch.randint(self.points.shape[0], (n,), generator=g)]


class FromSampler(SampleOnly):
    """The law of a callable sampler `fn(n, seed) → (n, 2)`; its output is checked (shape, finite)."""

    def __init__(self, fn, name: str = "sampler"):
        if not callable(fn):
            raise ValueError(f"data sampler must be callable as fn(n, seed), got {type(fn).__name__}")
        self.fn, self.name = fn, name
        self._seed = 0

    def sample(self, n: int, seed: int | None = None, generator=None, device="cpu") -> torch.Tensor:
        n = _check_n(n)
        x = sde_mod.as_points(self.fn(n, seed), f"the data sampler's output for n = {n}")
        if x.shape[0] != n:
            raise ValueError(f"the data sampler returned {x.shape[0]} points, asked for n = {n}")
        return x.to(torch.float32)


_REGISTRY = {"blob": GaussianMixture, "circles2": Circles, "checker": Checkerboard, "gaussian": Gaussian}
GENERATORS = {"moons": TwoMoons, "spiral": Spiral}
"""Further 2-D data sets given by samplers only (no closed-form p_t): not the paper's; for diagnosing other models."""
ALL_NAMES = NAMES + tuple(GENERATORS)
"""Every name `get` accepts."""


def get(name: str) -> Distribution:
    """Return the data set called `name` (one of ALL_NAMES: NAMES with exact p_t, or a sample-only generator)."""
    if name in GENERATORS:
        return GENERATORS[name]()
    if name not in _REGISTRY:
        raise ValueError(f"unknown data set {name!r}; valid names are {', '.join(ALL_NAMES)}")
    return _REGISTRY[name]()
