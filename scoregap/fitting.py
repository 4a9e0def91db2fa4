"""Train a small model of any kind on any 2-D data under any forward SDE (the chapter "Diagnose your own model").

DSM {eq}`dsm` under the SDE (optionally weighted by the kernel variance, as Song et al. train VP and VE models), plus
w_R times the mean squared log-density FP residual {eq}`fp-log-general` on uniform collocation points for a potential
network. The paper's models are trained by `training.train`; this is the small loop for other settings.
"""
from __future__ import annotations

import time

import torch
from tqdm.auto import tqdm

from . import datasets, losses
from . import sde as sdes
from .models import PotentialMLP


def fit(model: torch.nn.Module, data, sde="vp", steps: int = 600, batch: int = 256, lr: float = 2e-3, w_r: float = 0.0,
        n_colloc: int = 256, box: float = losses.BOX, weighted: bool = True, seed: int = 0, progress: bool = True) -> dict:
    """Train `model` in place (Adam, cosine learning-rate decay); return the per-step log {'dsm', 'fp', 'seconds'}.

    model: a PotentialMLP (score ∇φ; w_r > 0 adds the FP residual) or any module (x, t) → (n, 2) (w_r must be 0).
    data: a data-set name (datasets.ALL_NAMES) or a Distribution.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not (isinstance(w_r, (int, float)) and w_r >= 0):
        raise ValueError(f"w_r must be a non-negative number, got {w_r!r}")
    potential = isinstance(model, PotentialMLP)
    if w_r > 0 and not potential:
        raise ValueError("w_r > 0 needs a potential network (PotentialMLP): a plain score has no log-density residual")
    proc = sdes.get(sde)
    d = datasets.get(data) if isinstance(data, str) else data
    g = torch.Generator().manual_seed(int(seed))
    score = model.score if potential else model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    log = {"dsm": [], "fp": []}
    t0 = time.perf_counter()
    for _ in tqdm(range(steps), desc="training", disable=not progress):
        loss = losses.dsm_loss(score, d.sample(batch, generator=g), generator=g, sde=proc, weighted=weighted)
        log["dsm"].append(float(loss.detach()))
        if w_r > 0:
            xc, tc = losses.collocation_points(n_colloc, generator=g, box=box, sde=proc)
            fp = (losses.fp_residual(model, xc, tc, sde=proc) ** 2).mean()
            log["fp"].append(float(fp.detach()))
            loss = loss + w_r * fp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    log["seconds"] = time.perf_counter() - t0
    return log
