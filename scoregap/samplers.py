"""Reverse-time samplers: Euler for the probability-flow ODE, Euler–Maruyama for the reverse SDE (PAPER.md, levels 2, 4)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import sde
from .models import PotentialMLP, flush_denormals, input_grad_fn

METHODS = ("ode", "sde")
SCHEDULES = ("paper", "uniform")
CPU_CHUNK = 2048
"""Points per score evaluation on the CPU: the layer activations (2048 × 80 floats) stay in the L2 cache."""


def time_grid(nfe: int = 800, schedule: str = "paper", T: float = sde.T) -> np.ndarray:
    """Decreasing times T = t_0 > … > t_K = 0.

    "paper": nfe - 10 steps of T/nfe, then 100 steps of T/(10 nfe) (the published code; 890 steps at nfe = 800).
    "uniform": nfe steps of T/nfe. The score is evaluated at t_0 … t_{K-1}, never at 0.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if isinstance(nfe, bool) or int(nfe) != nfe or nfe < (11 if schedule == "paper" else 1):
        raise ValueError(f"nfe must be an integer >= {11 if schedule == 'paper' else 1}, got {nfe!r}")
    nfe = int(nfe)
    h = T / nfe
    if schedule == "uniform":
        steps = np.full(nfe, h)
    else:
        steps = np.concatenate([np.full(nfe - 10, h), np.full(100, h / 10)])
    grid = T - np.concatenate([[0.0], np.cumsum(steps)])
    grid[-1] = 0.0
    return grid


def _fast_score(model: PotentialMLP, chunk: int) -> Callable:
    """No-grad score of a PotentialMLP through the explicit backward pass, in cache-sized chunks."""
    p = tuple(w.detach() for w in model.params())

    def score(x: torch.Tensor, t: float, out: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        inp[:, 0] = t
        inp[:, 1:] = x
        for i in range(0, x.shape[0], chunk):
            out[i:i + chunk] = input_grad_fn(p, inp[i:i + chunk])[:, 1:]
        return out

    return score


def sample(score: Callable, n: int, method: str = "ode", nfe: int = 800, schedule: str = "paper", seed: int | None = None,
           batch_size: int = 200_000, progress: bool = True, device: str | torch.device = "cpu", x_T: torch.Tensor | None = None,
           chunk: int = CPU_CHUNK) -> torch.Tensor:
    """Samples at t = 0 of the ODE dx = [-x - ½ s] dt or SDE dx = [-x - s] dt + dW̄ from x_T ~ N(0, ½I).

    `score` is any callable (x, t) → (n, 2); a PotentialMLP uses its fast explicit pass. The last SDE step
    adds no noise (as published). Work is done in batches of `batch_size` samples to bound memory.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(n, bool) or int(n) != n or int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    device = torch.device(device)
    grid = time_grid(nfe, schedule)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(2**62, (1,))))
    if x_T is None:
        x_T = sde.sample_prior(n, generator=gen, device=device)
    else:
        x_T = sde.as_points(x_T, "x_T").to(device)
        n = x_T.shape[0]
    fast = isinstance(score, PotentialMLP)
    if device.type == "cuda":
        batch_size = max(batch_size, 4_000_000)
        chunk = batch_size
    if fast:
        score = score.to(device)
        fscore = _fast_score(score, chunk)
    c = 0.5 if method == "ode" else 1.0
    out = torch.empty(n, 2, device=device)
    K = len(grid) - 1
    bar = tqdm(total=K * math.ceil(n / batch_size), desc=f"{method} sampling", disable=not progress, unit="step")
    with torch.no_grad(), flush_denormals():
        for start in range(0, n, batch_size):
            x = x_T[start:start + batch_size].clone()
            m = x.shape[0]
            if fast:
                sbuf = torch.empty(m, 2, device=device)
                inp = torch.empty(m, 3, device=device)
            noise = torch.empty_like(x)
            for k in range(K):
                t, h = float(grid[k]), float(grid[k] - grid[k + 1])
                s = fscore(x, t, sbuf, inp) if fast else score(x, t)
                x.mul_(1.0 + h).add_(s, alpha=c * h)
                if method == "sde" and k < K - 1:
                    noise.normal_(generator=gen)
                    x.add_(noise, alpha=math.sqrt(h))
                bar.update(1)
            out[start:start + m] = x
    bar.close()
    return out
