"""Benchmark: naive autograd vs scoregap's explicit derivative passes, against the matmul and elementwise limits.

`python -m scoregap.bench` (or `make bench`) measures everything in one run and prints a table:
operation, naive, fast, ratio, fraction of the matmul limit. The naive baseline lives here only.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import losses, metrics, samplers, sde
from .allocator import keep_freed_memory
from .models import BETA, PotentialMLP, flush_denormals, load_published, make_input
from .parallel import RowPool
from .results import load_checkpoint
from .training import accumulate_gradients

WIDTH = 80
CLOCK = time.perf_counter
"""Timer of `_time`; `--clock cpu` switches to process CPU time (robust when other jobs share the cores)."""


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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""`wall`: elapsed time; `cpu`: this process's CPU time (robust when other jobs share the cores)."""


def _time(*fns, clock: str = "wall", repeat: int = 7, min_time: float = 0.5) -> list[float]:
    """Fastest seconds per call of each function, calls interleaved (naive, fast, naive, …) after one warm-up.

    Interleaving exposes both to the same background load; the minimum is the estimate it disturbs least.
    """
    now = CLOCKS[clock]
    for fn in fns:
        fn()
    best = [float("inf")] * len(fns)
    count, t_end = 0, time.perf_counter() + min_time
    while count < repeat or (time.perf_counter() < t_end and count < 50):
        for i, fn in enumerate(fns):
            t0 = now()
            fn()
            best[i] = min(best[i], now() - t0)
        count += 1
    return best


def score_flops() -> int:
    """FLOPs of one score evaluation: forward 3→80→80→80 and the backward through the two 80×80 layers and the input layer."""
    fwd = 2 * (3 * WIDTH + 2 * WIDTH * WIDTH)
    bwd = 2 * (2 * WIDTH * WIDTH + 3 * WIDTH)
    return fwd + bwd


def fast_residual(model: PotentialMLP, x, t, pool: RowPool | None = None):
    """The library's no-grad FP residual (losses.fp_residual_batched: forward-mode pass, chunked, rows over the threads)."""
    return losses.fp_residual_batched(model, x, t, pool=pool)


def _ftz(fn):
    """fn run with denormals flushed, as the samplers and training run it."""
    def wrapped(*args):
        with flush_denormals():
            return fn(*args)
    return wrapped


def _w2_job(args):
    a, b = args
    return metrics.w2_squared(a, b)


def default_weights() -> tuple[PotentialMLP, str]:
    """The network to time: the authors' checker w_R = 0 network if SCOREGAP_REFERENCE_DIR has it, else ours."""
    ref = os.environ.get("SCOREGAP_REFERENCE_DIR")
    if ref and (Path(ref) / "weights" / "checker_w0.0.npz").is_file():
        return load_published(Path(ref) / "weights" / "checker_w0.0.npz"), "published checker w_R=0 network"
    ckpt = Path(__file__).resolve().parent.parent / "data" / "checkpoints" / "cpu" / "checker_w0.0.pt"
    if ckpt.is_file():
        return load_checkpoint(ckpt)[0], "shipped cpu-preset checker w_R=0 network"
    torch.manual_seed(0)
    return PotentialMLP(), "random initialisation"


def run(n: int = 20_000, n_dsm: int = 20_000, n_fp: int = 5_000, weights: str | None = None, threads: int | None = None,
        w2_table: bool = True, clock: str = "wall") -> dict:
    """Measure every operation at `threads` torch threads; return the rows and the limits."""
    if threads:
        torch.set_num_threads(threads)
    malloc_tuned = keep_freed_memory()  # for naive and fast alike: both then reuse freed activations (allocator.py)
    model, described = (load_published(weights), f"published {Path(weights).name}") if weights else default_weights()
    naive = NaiveNet(model)
    g = torch.Generator().manual_seed(0)
    x, t = losses.collocation_points(n, generator=g)
    rows = []

    # matmul limit: an sgemm of the hidden layers' shape; elementwise limit: the activation's transcendental
    # work alone (the fast score evaluates σ on 3 × 80 units and log on 2 × 80 units per point)
    a = torch.randn(n, WIDTH)
    W = torch.randn(WIDTH, WIDTH)
    (t_mm,) = _time(lambda: a @ W, clock=clock)
    sgemm = 2 * n * WIDTH * WIDTH / t_mm
    mm_limit = sgemm / score_flops()
    z3, z2 = torch.randn(n, 3 * WIDTH) * 10, torch.rand(n, 2 * WIDTH) + 0.5
    (t_el,) = _time(lambda: (torch.sigmoid(z3), torch.log(z2)), clock=clock)
    el_limit = n / t_el

    # the fast paths split their rows over `threads` Python threads (parallel.RowPool), as sampling and training do;
    # the naive baseline uses torch's `threads` intra-op threads
    pool = RowPool(torch.get_num_threads())
    fast_score = _ftz(samplers._fast_score(model, samplers.CPU_CHUNK, pool if pool.workers > 1 else None))
    sbuf, ibuf = torch.empty(n, 2), torch.empty(n, 3)
    with torch.no_grad():
        t_naive, t_fast = _time(lambda: naive.score(x, t), lambda: fast_score(x, t[:, 0], sbuf, ibuf), clock=clock)
    rows.append({"operation": f"score evaluations/s (batch {n}, sampler's path)", "naive": n / t_naive, "fast": n / t_fast,
                 "ratio": t_naive / t_fast, "of_matmul_limit": (n / t_fast) / mm_limit, "of_elementwise_limit": (n / t_fast) / el_limit,
                 "target": "≥ 2× and ≥ 50 % of limit"})
    with torch.no_grad():
        t_naive, t_fast = _time(lambda: naive.residual(x, t), lambda: fast_residual(model, x, t, pool), clock=clock)
    rows.append({"operation": f"FP-residual evaluations/s (batch {n})", "naive": n / t_naive, "fast": n / t_fast,
                 "ratio": t_naive / t_fast, "of_matmul_limit": float("nan"), "of_elementwise_limit": float("nan"), "target": "≥ 3×"})

    # one training step at n_dsm DSM + n_fp collocation points (training's own gradient function)
    x0 = torch.randn(n_dsm, 2, generator=g)
    tt = sde.training_times(n_dsm, generator=g)
    xt, target = sde.sample_kernel(x0, tt, generator=g)
    xc, tc = losses.collocation_points(n_fp, generator=g)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=0.0)  # lr 0: every repetition times the same step
    inp, inp_c = make_input(xt, tt), make_input(xc, tc)

    def naive_step(w):
        opt.zero_grad()
        loss = ((naive.score(xt, tt, create_graph=True) - target) ** 2).mean()
        if w > 0:
            loss = loss + w * (naive.residual(xc, tc, create_graph=True) ** 2).mean()
        loss.backward()
        opt.step()

    P = [q.detach().unsqueeze(0).clone().requires_grad_(True) for q in model.params()]  # a one-model ensemble, as training stacks them
    opt_fast = torch.optim.Adam(P, lr=0.0)

    def fast_step(w):
        opt_fast.zero_grad()
        accumulate_gradients(P, inp[None], target[None], torch.tensor([w]), inp_c[None], xc[None], [0] if w > 0 else [], pool=pool)
        opt_fast.step()

    for w in (1.0, 0.0):
        tn, tf = _time(lambda: naive_step(w), lambda: fast_step(w), repeat=5, clock=clock)
        rows.append({"operation": f"training step ms ({n_dsm} DSM + {n_fp if w else 0} FP points, w_R {'> 0' if w else '= 0'})",
                     "naive": tn * 1e3, "fast": tf * 1e3, "ratio": tn / tf, "of_matmul_limit": float("nan"),
                     "of_elementwise_limit": float("nan"), "target": "≥ 2.5×" if w else "≥ 1.5×"})
    pool.close()
    if w2_table:
        rows.append(_w2_row())
    return {"rows": rows, "sgemm_gflops": sgemm / 1e9, "matmul_limit_evals_per_s": mm_limit, "elementwise_limit_evals_per_s": el_limit,
            "threads": torch.get_num_threads(), "clock": clock, "torch": str(torch.__version__),
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "weights": described,
            "compile_seconds": 0.0, "malloc_tuned": malloc_tuned, "note": "eager PyTorch, no torch.compile (compile cost 0); the fast paths flush denormals to zero and split chunks over the threads, the naive baseline runs as a user writes it; glibc malloc keeps freed memory for both (allocator.py)"}


def _w2_row() -> dict:
    """One W2² table: 36 emd2 calls between random histograms, serial vs a process pool."""
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
    return {"operation": "W2² table, 36 emd2 calls (s)", "naive": t_serial, "fast": t_par, "ratio": t_serial / t_par,
            "of_matmul_limit": float("nan"), "of_elementwise_limit": float("nan"), "target": "parallel if it helps"}


def profile_fast_paths(n: int = 20_000, top: int = 12) -> str:
    """torch.profiler tables of the fast score, FP residual and training step: where the time goes."""
    from torch.profiler import ProfilerActivity, profile

    model, _ = default_weights()
    g = torch.Generator().manual_seed(0)
    x, t = losses.collocation_points(n, generator=g)
    fast_score = _ftz(samplers._fast_score(model, samplers.CPU_CHUNK))
    sbuf, ibuf = torch.empty(n, 2), torch.empty(n, 3)
    xt, target = sde.sample_kernel(torch.randn(n, 2, generator=g), sde.training_times(n, generator=g), generator=g)
    inp = make_input(xt, sde.training_times(n, generator=g))
    xc, tc = losses.collocation_points(n // 4, generator=g)
    P = [q.detach().unsqueeze(0).requires_grad_(True) for q in model.params()]
    jobs = {
        "score (sampler's path)": lambda: fast_score(x, t[:, 0], sbuf, ibuf),
        "FP residual": lambda: fast_residual(model, x, t),
        "training step, w_R > 0": lambda: accumulate_gradients(P, inp[None], target[None], torch.tensor([1.0]),
                                                               make_input(xc, tc)[None], xc[None], [0]),
    }
    out = []
    for name, fn in jobs.items():
        with torch.no_grad() if "training" not in name else torch.enable_grad():
            fn()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(3):
                    fn()
        out.append(f"== {name}\n" + prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top))
    return "\n".join(out)


def _percent(v: float) -> str:
    """v as a percentage, blank for NaN (no limit applies)."""
    return "" if v != v else f"{v:.0%}"


def format_table(res: dict) -> str:
    """Text table of a benchmark result."""
    out = [f"threads={res['threads']}  clock={res.get('clock', 'wall')}  torch={res['torch']}  weights: {res.get('weights', '?')}",
           f"sgemm (n,80)x(80,80): {res['sgemm_gflops']:.0f} GFLOP/s → matmul limit {res['matmul_limit_evals_per_s'] / 1e6:.2f} M score "
           f"evals/s; elementwise limit (σ on 240 + log on 160 units alone) {res['elementwise_limit_evals_per_s'] / 1e6:.2f} M evals/s; "
           f"{res['note']}",
           f"{'operation':<60}{'naive':>11}{'fast':>11}{'ratio':>8}{'of mm':>7}{'of elem':>8}  target"]
    for r in res["rows"]:
        lims, lime = (_percent(r.get(k, float("nan"))) for k in ("of_matmul_limit", "of_elementwise_limit"))
        out.append(f"{r['operation']:<60}{r['naive']:>11.4g}{r['fast']:>11.4g}{r['ratio']:>7.2f}×{lims:>7}{lime:>8}  {r['target']}")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scoregap.bench", description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="batch of score / residual evaluations (default 20000)")
    ap.add_argument("--weights", help="a published .npz to time (default: $SCOREGAP_REFERENCE_DIR's checker w0.0 network, "
                                      "else the shipped cpu checker w0.0 checkpoint)")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts, one table each (default 1,2: one "
                                                      "workflow job per core, and one job using both)")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                    help="wall: elapsed time (default); cpu: process CPU time, steadier when other jobs share the machine")
    ap.add_argument("--no-w2", action="store_true", help="skip the W2² table row (about two minutes)")
    ap.add_argument("--profile", action="store_true", help="print where the fast paths spend their time (torch.profiler) and exit")
    ap.add_argument("--json", help="also write the results as JSON here (the book's performance page reads data/bench.json)")
    args = ap.parse_args(argv)
    try:
        threads = [int(v) for v in str(args.threads).split(",") if v.strip()]
        if not threads or min(threads) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--threads must be positive integers separated by commas, got {args.threads!r}")
    if args.profile:
        torch.set_num_threads(threads[0])
        print(profile_fast_paths(n=args.n))
        return 0
    runs = []
    for i, th in enumerate(threads):
        res = run(n=args.n, weights=args.weights, threads=th, w2_table=not args.no_w2 and i == len(threads) - 1, clock=args.clock)
        print(format_table(res), flush=True)
        runs.append(res)
    if args.json:
        from .results import write_json

        write_json(args.json, {"runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
