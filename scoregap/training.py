"""Training: DSM + w_R · mean r_θ² ({eq}`loss`), for one model or several at once.

Several models (e.g. the whole w_R sweep) train together with their parameters stacked along a
leading dimension, so one batched matmul serves all; each model keeps its own random stream, so it
sees the same data as when trained alone. Training checkpoints often and resumes where it stopped.
"""
from __future__ import annotations

import csv
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import datasets, losses, provenance, sde
from .config import ExperimentConfig
from .allocator import keep_freed_memory
from .models import LAYERS, PotentialMLP, flush_denormals, fp_terms_fn, input_grad_fn, make_input
from .parallel import RowPool, row_pool
from .results import load_state, save_checkpoint, save_state
from .samplers import NonFiniteError

LOG_FIELDS = ("step", "lr", "dsm", "fp_residual", "loss", "seconds")


def init_params(config: ExperimentConfig) -> list[torch.Tensor]:
    """Initial weights of a model: PyTorch's default init under the model's seed."""
    torch.manual_seed(config.seed)
    return [p.detach().clone() for p in PotentialMLP(width=config.width).params()]


def _state_names() -> list[str]:
    return [f"{layer}.{kind}" for layer in LAYERS for kind in ("weight", "bias")]


def state_path(checkpoint: Path) -> Path:
    """Where the resumable training state of a checkpoint lives (next to it, `.state.pt`)."""
    return checkpoint.with_suffix(".state.pt")


def _batch(cfg, ds, g, device):
    """One model's batch: DSM inputs and targets, collocation inputs."""
    x0 = ds.sample(cfg.dsm_batch, generator=g)
    t = sde.training_times(cfg.dsm_batch, generator=g, device=device)
    xt, target = sde.sample_kernel(x0, t, generator=g)
    xc, tc = losses.collocation_points(cfg.fp_batch, generator=g, device=device, box=cfg.box)
    return make_input(xt, t), target, make_input(xc, tc), xc


def _moment(opt, p, key: str, m: int) -> torch.Tensor:
    """Adam moment of model m (zeros for a parameter without gradient, e.g. the output bias: ∇_x φ ignores it)."""
    st = opt.state.get(p, {})
    return (st[key][m] if key in st else torch.zeros_like(p[m])).detach().cpu().clone()


def _residual_sq(P, inp, xc):
    _, dt, grad, lap = fp_terms_fn(P, inp)
    return (dt - losses.fp_rhs(xc, grad, lap)) ** 2


CPU_CHUNKS = (2048, 1024)
"""DSM and collocation points per backward pass on the CPU: the working set stays in cache (about 15 % faster
per step than one pass over the whole batch) and 10 + 5 chunks per step keep two threads evenly busy; on a GPU
the whole batch is one pass."""


def accumulate_gradients(P, inp, target, w, inp_c=None, xc=None, fp_idx=None, chunks=CPU_CHUNKS, workers: int | None = None,
                         pool: RowPool | None = None):
    """Gradient of Σ_m [DSM_m + w_m · mean r²_m] ({eq}`loss`) accumulated into P's .grad, in chunks.

    P: stacked parameters (leading model dimension M); inp/target: (M, n, 3)/(M, n, 2) DSM inputs and targets;
    inp_c/xc: (M_fp, n_c, 3)/(M_fp, n_c, 2) collocation inputs of the models `fp_idx` with w_R > 0.
    The chunks are evaluated on `pool` (or a pool of `workers` CPU threads; default torch's thread count) and their
    gradients added in chunk order, so the result does not depend on the number of threads. Returns the per-model DSM
    losses and mean squared residuals (NaN without FP term), detached. Chunking and threads change only the summation
    order: the gradient equals one pass over the batch.
    """
    with flush_denormals(), row_pool(workers, inp.device, pool) as rp:
        return _accumulate(P, inp, target, w, inp_c, xc, fp_idx, chunks, rp)


def _chunk_grads(loss_of, P, i: int, j: int):
    """(∇_P Σ loss, value) of one chunk, for loss_of(i, j) → (per-model loss, per-model value); None for parameters the
    loss does not use. Each chunk builds its own graph, so threads share no graph nodes."""
    loss, v = loss_of(i, j)
    return torch.autograd.grad(loss.sum(), P, allow_unused=True), v.detach()


def _add_grads(P, results) -> torch.Tensor:
    """Add the chunks' gradients into P's .grad in chunk order (the same sum for any number of threads); return the
    summed values."""
    value = None
    for grads, v in results:
        for p, g in zip(P, grads):
            if g is not None:
                p.grad = g if p.grad is None else p.grad.add_(g)
        value = v if value is None else value + v
    return value


def _accumulate(P, inp, target, w, inp_c, xc, fp_idx, chunks, pool: RowPool):
    M, n = inp.shape[0], inp.shape[1]
    cd, cf = chunks if chunks else (n, inp_c.shape[1] if inp_c is not None else 1)

    def dsm_part(i, j):
        part = ((input_grad_fn(P, inp[:, i:j])[..., 1:] - target[:, i:j]) ** 2).sum(dim=(1, 2)) / (2 * n)
        return part, part

    dsm = _add_grads(P, pool.map(lambda i, j: _chunk_grads(dsm_part, P, i, j), n, cd))
    fp = torch.full((M,), float("nan"), device=inp.device)
    if fp_idx:
        n_c = inp_c.shape[1]
        idx = torch.tensor(fp_idx, device=inp.device)
        w_fp = w[idx]

        def fp_part(i, j):
            sub = [p[idx] for p in P] if len(fp_idx) < M else P
            part = _residual_sq(sub, inp_c[:, i:j], xc[:, i:j]).sum(dim=1) / n_c
            return w_fp * part, part

        fp[idx] = _add_grads(P, pool.map(lambda i, j: _chunk_grads(fp_part, P, i, j), n_c, cf))
    return dsm, fp


def _check_finite(step: int, configs, loss=None, fp=None, fp_idx=(), params=None) -> None:
    """Stop at the first non-finite loss, FP residual or parameter, naming the model and the step."""
    bad = set()
    if loss is not None:
        bad |= {m for m, ok in enumerate(torch.isfinite(loss.detach()).tolist()) if not ok}
        bad |= {m for m in fp_idx if not bool(torch.isfinite(fp[m]))}
        what = "loss"
    if params is not None:
        with torch.no_grad():
            ok = torch.stack([torch.isfinite(p.detach().reshape(p.shape[0], -1)).all(dim=1) for p in params]).all(dim=0)
        bad |= {m for m, v in enumerate(ok.tolist()) if not v}
        what = "parameters"
    if bad:
        names = ", ".join(configs[m].name for m in sorted(bad))
        raise NonFiniteError(f"training diverged: non-finite {what} of {names} at step {step + 1}; no checkpoint written "
                             "(lower the learning rates lrs, or w_r)")


def snapshot_path(checkpoint: Path, step: int) -> Path:
    """Where the snapshot of a checkpoint's weights after `step` training steps lives (`<name>.step<step>.pt`)."""
    return checkpoint.with_suffix(f".step{step}.pt")


def snapshot_steps(steps: int, count: int) -> list[int]:
    """`count` evenly spaced steps ending at `steps` (4 → 1/4, 1/2, 3/4 and all of training)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"invalid snapshots={count!r}: must be an integer >= 0")
    return [round(steps * k / count) for k in range(1, count + 1)] if count else []


def train(configs: list[ExperimentConfig], checkpoints: list, progress: bool = True, max_steps: int | None = None,
          workers: int | None = None, snapshots: int = 0, fresh: bool = False) -> list[dict]:
    """Train len(configs) models together; write each final checkpoint; return their summaries.

    All configs must share steps, batch sizes, learning-rate schedule and device. Every
    `checkpoint_every` steps the state is saved next to the checkpoint and a rerun resumes from it.
    `max_steps` stops early (for tests of interruption); the state is saved at that point. `workers`: CPU threads
    for the gradient (default: torch's thread count). `snapshots`: that many plain state dicts of each model's weights,
    evenly spaced along training (`snapshot_path`, with checksums), for the gap along training. A saved state of other
    settings is refused (ValueError naming the fields) unless `fresh`, which discards it. A non-finite loss or parameter
    stops training (NonFiniteError) before anything of that step is written.
    """
    if len(configs) != len(checkpoints) or not configs:
        raise ValueError("need one checkpoint path per config")
    base = configs[0]
    for c in configs[1:]:
        for f in ("steps", "dsm_batch", "fp_batch", "lrs", "lr_fractions", "device", "box", "width", "checkpoint_every", "log_every"):
            if getattr(c, f) != getattr(base, f):
                raise ValueError(f"models trained together must share {f}: {getattr(c, f)!r} != {getattr(base, f)!r}")
    device = torch.device(base.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA device is available")
    if device.type == "cpu":
        keep_freed_memory()
    checkpoints = [Path(p) for p in checkpoints]
    M = len(configs)
    dsets = [datasets.get(c.dataset) for c in configs]
    w = torch.tensor([c.w_r for c in configs], device=device)
    fp_idx = [m for m, c in enumerate(configs) if c.w_r > 0]

    gens = []
    for c in configs:
        g = torch.Generator(device=device)
        g.manual_seed(c.seed)
        gens.append(g)
    inits = [init_params(c) for c in configs]
    P = [torch.stack([init[i] for init in inits]).to(device).requires_grad_(True) for i in range(len(inits[0]))]
    opt = torch.optim.Adam(P, lr=base.lrs[0])
    start, elapsed, reseeded, devices = 0, 0.0, False, []
    logs: list[list[dict]] = [[] for _ in configs]

    states = [state_path(p) for p in checkpoints]
    if fresh:
        for s in states:
            for f in (s, Path(str(s) + ".sha256")):
                f.unlink(missing_ok=True)
    if all(s.exists() for s in states):
        loaded = [load_state(s, device) for s in states]
        for st, c, s in zip(loaded, configs, states):
            diffs = provenance.config_differences(st.get("config") or {}, c)
            if diffs:
                raise ValueError(f"{s} is the saved state of another training run ({'; '.join(diffs)}); rerun with the same "
                                 "settings to resume it, or with --fresh to discard it and start over")
        steps_done = {st["step"] for st in loaded}
        if len(steps_done) == 1:
            start = steps_done.pop()
            with torch.no_grad():
                for i in range(len(P)):
                    P[i].copy_(torch.stack([st["params"][i] for st in loaded]))
            opt_state = opt.state_dict()
            for i in range(len(P)):
                if not bool(torch.stack([st["exp_avg_sq"][i] for st in loaded]).any()):
                    continue
                opt_state["state"][i] = {
                    "step": torch.tensor(float(start)),
                    "exp_avg": torch.stack([st["exp_avg"][i] for st in loaded]),
                    "exp_avg_sq": torch.stack([st["exp_avg_sq"][i] for st in loaded]),
                }
            opt.load_state_dict(opt_state)
            for g, st, c in zip(gens, loaded, configs):
                try:
                    g.set_state(st["rng"].cpu())
                except RuntimeError:  # state saved on another device type: continue with a stream seeded by (seed, step)
                    g.manual_seed(c.seed * 1_000_003 + start)
                    reseeded = True
            logs = [list(st["log"]) for st in loaded]
            devices = list(loaded[0].get("devices", []))
            elapsed = float(loaded[0]["seconds"])

    def save(step: int):
        for m, (c, s) in enumerate(zip(configs, states)):
            save_state(s, {
                "step": step, "seconds": elapsed, "config": c.to_dict(), "log": logs[m], "devices": devices,
                "params": [p[m].detach().cpu().clone() for p in P],
                "exp_avg": [_moment(opt, p, "exp_avg", m) for p in P],
                "exp_avg_sq": [_moment(opt, p, "exp_avg_sq", m) for p in P],
                "rng": gens[m].get_state(),
            })

    snap_at = set(snapshot_steps(base.steps, snapshots))
    names = _state_names()

    def snapshot(step: int):
        for m, (c, path) in enumerate(zip(configs, checkpoints)):
            save_checkpoint(snapshot_path(path, step), {k: P[i][m] for i, k in enumerate(names)}, c,
                            {"steps": step, "snapshot_of": path.name, "samples_seen": step * c.dsm_batch},
                            record=provenance.make_record("train", c))

    stop = base.steps if max_steps is None else min(base.steps, max_steps)
    if start < stop and (not devices or devices[-1] != device.type):
        devices.append(device.type)
    bar = tqdm(total=base.steps, initial=start, desc=f"training {M} model(s)", disable=not progress, unit="step")
    t0 = time.perf_counter()
    with row_pool(workers, device) as pool:  # the gradient's rows go to `workers` CPU threads (parallel.RowPool)
        for step in range(start, stop):
            lr = base.lr_at(step)
            for group in opt.param_groups:
                group["lr"] = lr
            batches = [_batch(c, ds, g, device) for c, ds, g in zip(configs, dsets, gens)]
            inp = torch.stack([b[0] for b in batches])
            target = torch.stack([b[1] for b in batches])
            inp_c = torch.stack([batches[m][2] for m in fp_idx]) if fp_idx else None
            xc = torch.stack([batches[m][3] for m in fp_idx]) if fp_idx else None
            log_now = (step + 1) % base.log_every == 0 or step == 0 or step + 1 == base.steps
            opt.zero_grad(set_to_none=True)
            dsm, fp = accumulate_gradients(P, inp, target, w, inp_c, xc, fp_idx, chunks=CPU_CHUNKS if device.type == "cpu" else None,
                                           pool=pool)
            loss_m = dsm + torch.nan_to_num(w * fp, nan=0.0)
            _check_finite(step, configs, loss_m, fp, fp_idx)
            opt.step()
            _check_finite(step, configs, params=P)
            if log_now:
                rest = [m for m in range(M) if m not in fp_idx]
                if rest:
                    with torch.no_grad():
                        inp_c = torch.stack([batches[m][2] for m in rest])
                        xc = torch.stack([batches[m][3] for m in rest])
                        r2 = _residual_sq([p[rest].detach() for p in P], inp_c, xc).mean(dim=1)
                        fp[rest] = r2
                el = elapsed + time.perf_counter() - t0
                d, f, l = dsm.detach().cpu().tolist(), fp.cpu().tolist(), loss_m.detach().cpu().tolist()
                for m in range(M):
                    logs[m].append({"step": step + 1, "lr": lr, "dsm": d[m], "fp_residual": f[m], "loss": l[m], "seconds": round(el, 3)})
                bar.set_postfix(dsm=f"{sum(d) / M:.3g}")
            bar.update(1)
            if step + 1 in snap_at:
                snapshot(step + 1)
            if (step + 1) % base.checkpoint_every == 0 and step + 1 < stop:
                elapsed += time.perf_counter() - t0
                t0 = time.perf_counter()
                save(step + 1)
    bar.close()
    elapsed += time.perf_counter() - t0
    if stop < base.steps:
        save(stop)
        return []
    summaries = []
    for m, (c, path) in enumerate(zip(configs, checkpoints)):
        summary = {"steps": base.steps, "seconds": round(elapsed, 2), "trained_with": M, "devices": devices,
                   "torch": str(torch.__version__), "rng_reseeded_on_resume": reseeded, "final_dsm": logs[m][-1]["dsm"], "final_fp_residual": logs[m][-1]["fp_residual"]}
        save_checkpoint(path, {k: P[i][m] for i, k in enumerate(names)}, c, summary, record=provenance.make_record("train", c))
        write_log(path.with_suffix(".csv"), logs[m])
        summaries.append(summary)
        s = state_path(path)
        for f in (s, Path(str(s) + ".sha256")):
            if f.exists():
                f.unlink()
    return summaries


def write_log(path: Path, rows: list[dict]) -> None:
    """Loss log as CSV (step, lr, dsm, fp_residual, loss, seconds), written atomically."""
    import io

    from .results import atomic_write_text

    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    wr.writeheader()
    wr.writerows(rows)
    atomic_write_text(path, buf.getvalue())
