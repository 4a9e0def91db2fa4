"""Reverse-time samplers: Euler for the probability-flow ODE, Euler–Maruyama for the reverse SDE ({eq}`pf-ode`, {eq}`rev-sde`)."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import sde
from . import sde as _sdes
from .allocator import keep_freed_memory
from .models import PotentialMLP, flush_denormals, input_grad_scaled, scaled_params
from .parallel import RowPool, row_pool

METHODS = ("ode", "sde")
SCHEDULES = ("paper", "uniform")
CPU_CHUNK = 1024
"""Points per score evaluation on the CPU (measured best of 256–4096 on the 2-core machine, with one and two workers)."""


PRIOR_BLOCK = 65_536
"""Samples of x_T drawn per call on the CPU (a multiple of 8: the blocks concatenate to the same numbers as one draw)."""


class NonFiniteError(FloatingPointError):
    """A sampler or a training run met NaN or inf."""


class _PriorStream:
    """x_T ~ N(0, ½I) of n points drawn block by block (memory of one block), the same numbers as one draw of all n from
    `gen`, which is left where that one draw would leave it (the SDE noise follows)."""

    def __init__(self, gen: torch.Generator, n: int, device, block: int, draw: Callable = sde.sample_prior):
        self.draw = draw  # the forward SDE's prior (default the paper's N(0, ½I))
        self.gen = torch.Generator(device=device)
        self.gen.set_state(gen.get_state())
        self.device, self.buf = device, None
        q, r = divmod(n, block)
        self.blocks = [block] * q + ([r] if r else [])
        if 0 < r < 8 and q:  # a tail under 16 numbers is drawn differently; draw it with the block before
            self.blocks[-2:] = [block + r]
        for b in self.blocks:  # advance the caller's stream past the whole prior
            self.draw(b, generator=gen, device=device)
        self.next_block = 0

    def take(self, m: int) -> torch.Tensor:
        """The next m points."""
        parts, need = [], m
        while need:
            if self.buf is None or not len(self.buf):
                self.buf = self.draw(self.blocks[self.next_block], generator=self.gen, device=self.device)
                self.next_block += 1
            parts.append(self.buf[:need])
            self.buf = self.buf[need:]
            need -= parts[-1].shape[0]
        return torch.cat(parts) if len(parts) > 1 else parts[0].clone()

    def skip(self, m: int) -> None:
        """Drop the next m points (they were sampled before a resume)."""
        while m:
            m -= self.take(min(m, PRIOR_BLOCK)).shape[0]


NFE: int = 800
"""The paper's nfe: its time grid of nfe − 10 steps of T/nfe and 100 of T/(10 nfe), 890 score evaluations."""


def time_grid(nfe: int = NFE, schedule: str = "paper", T: float = sde.T) -> np.ndarray:
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


def _fast_score(model: PotentialMLP, chunk: int, pool: RowPool | None = None) -> Callable:
    """No-grad score of a PotentialMLP through the explicit backward pass, in cache-sized chunks (rows split over `pool`)."""
    sp = scaled_params(tuple(w.detach() for w in model.params()))

    def score(x: torch.Tensor, t: float, out: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        inp[:, 0] = t
        inp[:, 1:] = x

        def rows(i: int, j: int) -> None:
            out[i:j] = input_grad_scaled(sp, inp[i:j])[:, 1:]

        if pool is None:
            for i in range(0, x.shape[0], chunk):
                rows(i, min(i + chunk, x.shape[0]))
        else:
            pool.map(rows, x.shape[0], chunk)
        return out

    return score


def sample(score: Callable, n: int, method: str = "ode", nfe: int = NFE, schedule: str | None = None, seed: int | None = None,
           batch_size: int = 200_000, progress: bool = True, device: str | torch.device = "cpu", x_T: torch.Tensor | None = None,
           chunk: int = CPU_CHUNK, workers: int | None = None, resume: dict | None = None,
           on_batch: Callable[[dict], None] | None = None, sde: "_sdes.SDE | str | None" = None) -> torch.Tensor:
    """Samples at t = 0 of the ODE dx = [-x - ½ s] dt or SDE dx = [-x - s] dt + dW̄ from x_T ~ N(0, ½I).

    For another forward SDE (`sde`, default the paper's OU) the ODE is dx = [f - ½g² s] dt and the SDE
    dx = [f - g² s] dt + g dW̄ from its prior, on its time range; schedule None: the SDE's default grid.

    `score` is any callable (x, t) → (n, 2); a PotentialMLP uses its fast explicit pass, its rows split over
    `workers` CPU threads (default: torch's thread count; the samples do not depend on it). The last SDE step
    adds no noise (as published). Work is done in batches of `batch_size` samples to bound memory; after each
    batch `on_batch` receives the resumable state {"done", "x", "rng"}, and `resume` (such a state) skips the
    batches it holds: an interrupted run continues with the same random stream and gives the same samples.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if isinstance(n, bool) or int(n) != n or int(n) <= 0:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    n = int(n)
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk <= 0:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    batch_size = int(batch_size)
    device = torch.device(device)
    process = _sdes.OU if sde is None else _sdes.get(sde)
    grid = time_grid(nfe, process.schedule if schedule is None else schedule, T=process.T)
    if device.type == "cuda":
        batch_size = max(batch_size, 4_000_000)
        chunk = batch_size
    gen = torch.Generator(device=device)
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(2**62, (1,))))
    if x_T is None:
        prior = _PriorStream(gen, n, device, block=PRIOR_BLOCK if device.type == "cpu" else batch_size, draw=process.sample_prior)
    else:
        x_T = _sdes.as_points(x_T, "x_T").to(device)
        n = x_T.shape[0]
        prior = None
    fast = isinstance(score, PotentialMLP)
    if fast and device.type == "cpu":
        keep_freed_memory()
    c = 0.5 if method == "ode" else 1.0
    out = torch.empty(n, 2, device=device)
    done = 0
    if resume is not None:
        done = int(resume["done"])
        if not (0 <= done <= n and (done % batch_size == 0 or done == n)) or tuple(resume["x"].shape) != (done, 2):
            raise ValueError(f"resume state holds {done} samples, not a whole number of batches of {batch_size} out of n = {n}")
        out[:done] = resume["x"].to(device)
        gen.set_state(resume["rng"])
    if prior is not None:
        prior.skip(done)
    K = len(grid) - 1
    bar = tqdm(total=K * math.ceil(n / batch_size), initial=K * math.ceil(done / batch_size), desc=f"{method} sampling",
               disable=not progress, unit="step")
    with torch.no_grad(), flush_denormals(), row_pool(workers if fast else 1, device) as pool:
        fscore = _fast_score(score.to(device), chunk, pool if pool.workers > 1 else None) if fast else None
        for start in range(done, n, batch_size):
            x = prior.take(min(batch_size, n - start)) if prior is not None else x_T[start:start + batch_size].clone()
            m = x.shape[0]
            if fast:
                sbuf = torch.empty(m, 2, device=device)
                inp = torch.empty(m, 3, device=device)
            noise = torch.empty_like(x)
            for k in range(K):
                t, h = float(grid[k]), float(grid[k] - grid[k + 1])
                s = fscore(x, t, sbuf, inp) if fast else score(x, t)
                b, g = float(process.drift_rate(t)), float(process.diffusion(t))  # OU: 1.0, 1.0 (the same floats as before)
                x.mul_(1.0 + h * b).add_(s, alpha=c * h * g * g)
                if method == "sde" and k < K - 1:
                    noise.normal_(generator=gen)
                    x.add_(noise, alpha=math.sqrt(h) * g)
                bar.update(1)
            if not bool(torch.isfinite(x).all()):
                raise NonFiniteError(f"{method} sampling: non-finite samples in the batch of rows {start}–{start + m - 1} "
                                     "(the score returned NaN or inf, or diverged); check the model")
            out[start:start + m] = x
            if on_batch is not None and start + m < n:
                on_batch({"done": start + m, "x": out[:start + m].cpu().clone(), "rng": gen.get_state()})
    bar.close()
    return out
