"""Benchmark: naive autograd vs scoregap's explicit derivative passes, against the matmul and elementwise limits.

`python -m scoregap.bench` (or `make bench`) measures everything in one run and prints a table:
operation, naive, fast, ratio, fraction of the matmul limit. The naive baseline lives here only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import losses, metrics, sde
from .models import BETA, PotentialMLP, fp_terms_fn, input_grad_fn, make_input

WIDTH = 80


class NaiveNet(nn.Module):
    """The straightforward implementation: nn.Linear layers, F.softplus(beta=100), autograd for every derivative."""

    def __init__(self, fast: PotentialMLP):
        super().__init__()
        self.input, self.hidden1, self.hidden2, self.output = fast.input, fast.hidden1, fast.hidden2, fast.output

    def forward(self, x, t):
        h = torch.cat([t, x], 1)
        h = F.softplus(self.input(h), beta=BETA)
        h = F.softplus(self.hidden1(h), beta=BETA)
        h = F.softplus(self.hidden2(h), beta=BETA)
        return self.output(h)

    def score(self, x, t, create_graph=False):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True) if not create_graph else x.requires_grad_(True)
            phi = self(x, t)
            return torch.autograd.grad(phi.sum(), x, create_graph=create_graph)[0]

    def residual(self, x, t, create_graph=False):
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            t = t.detach().requires_grad_(True)
            phi = self(x, t)
            gx, gt = torch.autograd.grad(phi.sum(), (x, t), create_graph=True)
            lap = sum(torch.autograd.grad(gx[:, i].sum(), x, create_graph=True)[0][:, i] for i in range(2))
            r = gt[:, 0] - (2 + (x * gx).sum(1) + 0.5 * lap + 0.5 * (gx * gx).sum(1))
            return r if create_graph else r.detach()


def _time(fn, repeat: int = 5, min_time: float = 0.5) -> float:
    """Median seconds per call after one warm-up."""
    fn()
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 50:
            break
    return float(np.median(times))


def score_flops() -> int:
    """FLOPs of one score evaluation: forward 3→80→80→80 and the backward through the two 80×80 layers and the input layer."""
    fwd = 2 * (3 * WIDTH + 2 * WIDTH * WIDTH)
    bwd = 2 * (2 * WIDTH * WIDTH + 3 * WIDTH)
    return fwd + bwd


def fast_score(p, x, t, chunk: int = 2048):
    """No-grad score of the explicit pass, in cache-sized chunks (what the samplers use)."""
    inp = make_input(x, t)
    out = torch.empty(x.shape[0], 3)
    for i in range(0, x.shape[0], chunk):
        out[i:i + chunk] = input_grad_fn(p, inp[i:i + chunk])
    return out[:, 1:]


def fast_residual(p, x, t, chunk: int = 2048):
    """No-grad FP residual through the forward-mode pass, chunked."""
    out = torch.empty(x.shape[0])
    inp = make_input(x, t)
    for i in range(0, x.shape[0], chunk):
        _, dt, g, lap = fp_terms_fn(p, inp[i:i + chunk])
        out[i:i + chunk] = dt - losses.fp_rhs(x[i:i + chunk], g, lap)
    return out


def _w2_job(args):
    a, b = args
    return metrics.w2_squared(a, b)


def run(n: int = 20_000, n_dsm: int = 20_000, n_fp: int = 5_000, weights: str | None = None, threads: int | None = None) -> dict:
    """Measure every operation; return a dict of rows."""
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = PotentialMLP()
    if weights:
        from .models import load_published

        model = load_published(weights)
    naive = NaiveNet(model)
    p = tuple(w.detach() for w in model.params())
    g = torch.Generator().manual_seed(0)
    x, t = losses.collocation_points(n, generator=g)
    rows = []

    # matmul and elementwise limits, same shapes
    a = torch.randn(n, WIDTH)
    W = torch.randn(WIDTH, WIDTH)
    t_mm = _time(lambda: a @ W)
    sgemm = 2 * n * WIDTH * WIDTH / t_mm
    mm_limit = sgemm / score_flops()
    z = torch.randn(n, 3 * WIDTH)
    t_el = _time(lambda: torch.reciprocal(1 + torch.exp(-z.abs())) + torch.log1p(z))
    el_limit = n / t_el

    with torch.no_grad():
        t_naive = _time(lambda: naive.score(x, t))
        t_fast = _time(lambda: fast_score(p, x, t))
    rows.append({"operation": f"score evaluations/s (batch {n})", "naive": n / t_naive, "fast": n / t_fast,
                 "ratio": t_naive / t_fast, "of_matmul_limit": (n / t_fast) / mm_limit, "target": "≥ 2× and ≥ 50 % of limit"})
    t_naive = _time(lambda: naive.residual(x, t))
    with torch.no_grad():
        t_fast = _time(lambda: fast_residual(p, x, t))
    rows.append({"operation": f"FP-residual evaluations/s (batch {n})", "naive": n / t_naive, "fast": n / t_fast,
                 "ratio": t_naive / t_fast, "of_matmul_limit": float("nan"), "target": "≥ 3×"})

    # one training step at n_dsm DSM + n_fp collocation points
    from .training import _residual_sq

    x0 = torch.randn(n_dsm, 2)
    tt = sde.training_times(n_dsm, generator=g)
    xt, target = sde.sample_kernel(x0, tt, generator=g)
    xc, tc = losses.collocation_points(n_fp, generator=g)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-4)

    def naive_step(w):
        opt.zero_grad()
        loss = ((naive.score(xt, tt, create_graph=True) - target) ** 2).mean()
        if w > 0:
            loss = loss + w * (naive.residual(xc, tc, create_graph=True) ** 2).mean()
        loss.backward()
        opt.step()

    inp, inp_c = make_input(xt, tt), make_input(xc, tc)

    def fast_step(w):
        opt.zero_grad()
        P = model.params()
        loss = ((input_grad_fn(P, inp)[:, 1:] - target) ** 2).mean()
        if w > 0:
            loss = loss + w * _residual_sq(P, inp_c, xc).mean()
        loss.backward()
        opt.step()

    for w in (1.0, 0.0):
        tn = _time(lambda: naive_step(w), repeat=5)
        tf = _time(lambda: fast_step(w), repeat=5)
        rows.append({"operation": f"training step ms ({n_dsm} DSM + {n_fp if w else 0} FP points, w_R {'> 0' if w else '= 0'})",
                     "naive": tn * 1e3, "fast": tf * 1e3, "ratio": tn / tf, "of_matmul_limit": float("nan"),
                     "target": "≥ 2.5×" if w else "≥ 1.5×"})

    # one W2² table: 36 emd2 calls between random histograms
    rng = np.random.default_rng(0)
    hists = [metrics.histogram(rng.normal(size=(20_000, 2)) * 1.2)[0] for _ in range(8)]
    pairs = [(hists[i % 8], hists[(i + 1) % 8]) for i in range(36)]
    t0 = time.perf_counter()
    serial = [_w2_job(pq) for pq in pairs]
    t_serial = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        par = list(ex.map(_w2_job, pairs))
    t_par = time.perf_counter() - t0
    assert np.allclose(serial, par)
    rows.append({"operation": "W2² table, 36 emd2 calls (s)", "naive": t_serial, "fast": t_par, "ratio": t_serial / t_par,
                 "of_matmul_limit": float("nan"), "target": "parallel if it helps"})
    return {"rows": rows, "sgemm_gflops": sgemm / 1e9, "matmul_limit_evals_per_s": mm_limit, "elementwise_limit_evals_per_s": el_limit,
            "threads": torch.get_num_threads(), "torch": str(torch.__version__), "machine": platform.processor() or platform.machine(),
            "compile_seconds": 0.0, "note": "eager PyTorch, no torch.compile (compile cost 0)"}


def format_table(res: dict) -> str:
    """Text table of a benchmark result."""
    out = [f"threads={res['threads']}  torch={res['torch']}  sgemm (n,80)x(80,80): {res['sgemm_gflops']:.0f} GFLOP/s  "
           f"→ matmul limit {res['matmul_limit_evals_per_s'] / 1e6:.2f} M score evals/s; elementwise limit "
           f"(exp+log1p+reciprocal on 240 units) {res['elementwise_limit_evals_per_s'] / 1e6:.2f} M evals/s; {res['note']}",
           f"{'operation':<58}{'naive':>12}{'fast':>12}{'ratio':>8}{'of limit':>10}  target"]
    for r in res["rows"]:
        lim = "" if r["of_matmul_limit"] != r["of_matmul_limit"] else f"{r['of_matmul_limit']:.0%}"
        out.append(f"{r['operation']:<58}{r['naive']:>12.4g}{r['fast']:>12.4g}{r['ratio']:>7.2f}×{lim:>10}  {r['target']}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scoregap.bench", description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="batch of score / residual evaluations")
    ap.add_argument("--weights", help="published .npz to benchmark (default: a random init)")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="also write the result as JSON here (the book's performance page reads data/bench.json)")
    args = ap.parse_args(argv)
    res = run(n=args.n, weights=args.weights, threads=args.threads or None)
    print(format_table(res))
    if args.json:
        from .results import write_json

        write_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
