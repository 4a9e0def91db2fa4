"""One unit of work each: train a model, sample it, evaluate W2² tables (the CLI and the workflow call these)."""
from __future__ import annotations

import csv
import io
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from . import datasets, losses, metrics, samplers
from .config import W_R_VALUES, ExperimentConfig, model_name
from .results import atomic_write_text, load_checkpoint, load_npz, save_npz, write_json
from .training import train

SUBSAMPLE = 10_000
"""Raw samples kept beside each histogram (for sliced W2 and scatter plots)."""
METHODS = samplers.METHODS


def stable_seed(*parts) -> int:
    """A seed derived from names (crc32), identical across runs and machines."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def sample_seed(cfg: ExperimentConfig, dataset: str, w_r: float, method: str) -> int:
    """Seed of one (model, sampler) run."""
    return stable_seed(cfg.sample_seed, model_name(dataset, w_r), method)


def run_train(configs: list[ExperimentConfig], out_paths: list, progress: bool = True, snapshots: int = 0) -> list[dict]:
    """Train the given models together and write their checkpoints (and `snapshots` snapshots along training)."""
    return train(configs, out_paths, progress=progress, snapshots=snapshots)


def partial_path(out: Path) -> Path:
    """Where an interrupted sampling run keeps its finished batches (next to its output, `<out>.partial`)."""
    return Path(str(out) + ".partial")


def _params_digest(model) -> str:
    """sha256 of a network's parameters (or of a callable's name): a partial run resumes only with the same model."""
    import hashlib

    if not hasattr(model, "params"):
        return getattr(model, "__qualname__", type(model).__name__)
    h = hashlib.sha256()
    for p in model.params():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def run_sample(model, cfg: ExperimentConfig, dataset: str, w_r: float, method: str, out: Path, progress: bool = True, extra: dict | None = None,
               batch_size: int = 200_000) -> dict:
    """Sample a model with one sampler, write histogram + dropped count + subsample + seeds to `out`.

    After every batch of `batch_size` samples the finished ones and the random state go to `<out>.partial`
    (atomic, checksummed); a rerun with the same model and settings resumes there and writes the same samples.
    """
    from .results import CorruptFileError, load_state, save_state

    out = Path(out)
    seed = sample_seed(cfg, dataset, w_r, method)
    key = {"n": cfg.n_samples, "method": method, "nfe": cfg.nfe, "schedule": cfg.schedule, "seed": seed, "batch_size": batch_size,
           "device": torch.device(cfg.device).type, "model": _params_digest(model)}
    part = partial_path(out)
    resume, before = None, 0.0
    if part.exists():
        try:
            st = load_state(part)
        except (CorruptFileError, RuntimeError, OSError) as err:
            print(f"ignoring unreadable {part} ({err}); starting over", flush=True)
            st = None
        if st is not None and st.get("key") == key:
            resume, before = st["state"], float(st["seconds"])
            print(f"resuming {out.name} from {part.name}: {resume['done']} of {cfg.n_samples} samples done", flush=True)
        elif st is not None:
            print(f"{part} was written with other settings ({st.get('key')}); starting over", flush=True)
    t0 = time.perf_counter()

    def checkpoint(state: dict) -> None:
        save_state(part, {"key": key, "state": state, "seconds": before + time.perf_counter() - t0})

    x = samplers.sample(model, cfg.n_samples, method=method, nfe=cfg.nfe, schedule=cfg.schedule, seed=seed,
                        progress=progress, device=cfg.device, batch_size=batch_size, resume=resume, on_batch=checkpoint)
    if x.is_cuda:
        torch.cuda.synchronize()
    seconds = before + time.perf_counter() - t0
    x = x.cpu()
    hist, dropped = metrics.histogram(x, n=cfg.grid_n, box=cfg.box)
    info = {"dataset": dataset, "w_r": float(w_r), "method": method, "n": cfg.n_samples, "dropped": dropped, "seed": seed,
            "nfe": cfg.nfe, "schedule": cfg.schedule, "seconds": round(seconds, 2), "device": cfg.device, **(extra or {})}
    save_npz(out, hist=hist, subsample=x[:SUBSAMPLE].numpy().astype(np.float32), info=np.array(repr(info)))
    for f in (part, Path(str(part) + ".sha256")):
        f.unlink(missing_ok=True)
    return info


def run_truth(cfg: ExperimentConfig, dataset: str, out: Path) -> dict:
    """Histogram of n_samples exact data samples (the 'truth' column)."""
    seed = stable_seed(cfg.truth_seed, dataset, "truth")
    x = datasets.get(dataset).sample(cfg.n_samples, seed=seed)
    hist, dropped = metrics.histogram(x, n=cfg.grid_n, box=cfg.box)
    info = {"dataset": dataset, "method": "truth", "n": cfg.n_samples, "dropped": dropped, "seed": seed}
    save_npz(out, hist=hist, subsample=x[:SUBSAMPLE].numpy(), info=np.array(repr(info)))
    return info


def read_result(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(histogram, subsample, info) of a sample or truth file."""
    import ast

    d = load_npz(path)
    return d["hist"], d["subsample"], ast.literal_eval(str(d["info"]))


W2_COLUMNS = ("ode_truth", "sde_truth", "ode_sde")
"""The three W2² distances of a table row."""
UNCERTAINTY_SUFFIXES = ("ci_low", "ci_high", "se", "debiased")
"""Per W2² column c, the row carries c_ci_low, c_ci_high (bootstrap 95 % interval), c_se (bootstrap standard error) and
c_debiased (bootstrap bias-corrected estimate), see metrics.w2_bootstrap."""
UNCERTAINTY_FIELDS = tuple(f"{c}_{s}" for c in W2_COLUMNS for s in UNCERTAINTY_SUFFIXES) + ("bootstrap", "bootstrap_seed", "ci_level")
TABLE_FIELDS = ("dataset", "w_r", "ode_truth", "sde_truth", "ode_sde", "sliced_ode_truth", "sliced_sde_truth", "sliced_ode_sde",
                "n", "dropped_ode", "dropped_sde", "fp_residual", "final_dsm", "floor", "floor_std") + UNCERTAINTY_FIELDS
"""Columns of the long-form W2² table; the uncertainty columns come last (new columns only: old readers are unaffected)."""
CI_LEVEL = 0.95


def floor_for(dataset: str, n: int, repeats: int = 4, seed: int = 10_000) -> tuple[float, float]:
    """Monte Carlo floor: mean and std of W2² between histograms of two independent exact n-samples."""
    ds = datasets.get(dataset)
    return metrics.noise_floor(lambda m, s: ds.sample(m, seed=s), n, repeats=repeats, seed=seed)


def w2_uncertainty(pairs: dict, bootstrap: int, seed: int, dataset: str, w_r: float, workers: int = 1) -> dict:
    """Bootstrap columns (UNCERTAINTY_FIELDS) for {column: ((hist_a, info_a), (hist_b, info_b))}: each histogram's counts are
    weights × (n − dropped) and are resampled multinomially (metrics.w2_bootstrap); each entry has its own seed, derived
    from `seed`, the data set, w_R and the column; `workers` threads solve the replicates (same numbers for any count).
    bootstrap = 0: the columns are NaN."""
    out = {"bootstrap": int(bootstrap), "bootstrap_seed": int(seed), "ci_level": CI_LEVEL}
    for col, ((ha, ia), (hb, ib)) in pairs.items():
        if bootstrap <= 0:
            out.update({f"{col}_{s}": float("nan") for s in UNCERTAINTY_SUFFIXES})
            continue
        ca = metrics.counts_from_weights(ha, int(ia["n"]) - int(ia["dropped"]))
        cb = metrics.counts_from_weights(hb, int(ib["n"]) - int(ib["dropped"]))
        iv = metrics.w2_bootstrap(ca, cb, n_boot=int(bootstrap), seed=stable_seed(seed, dataset, float(w_r), col), level=CI_LEVEL,
                                 workers=workers)
        out.update({f"{col}_ci_low": iv.low, f"{col}_ci_high": iv.high, f"{col}_se": iv.se, f"{col}_debiased": iv.debiased})
    return out


def evaluate_row(dataset: str, w_r: float, ode_file, sde_file, truth_file, checkpoint=None, model=None, bootstrap: int = 0,
                 bootstrap_seed: int = 0, workers: int = 1) -> dict:
    """W2² ODE–truth, SDE–truth, ODE–SDE (+ sliced W2² on the subsamples) for one model; with bootstrap = B > 0 also a
    95 % interval, standard error and bias-corrected value per W2² from B bootstrap replicates (w2_uncertainty, on `workers` threads)."""
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise ValueError(f"bootstrap must be 0 (no intervals) or an integer >= 2 (replicates), got {bootstrap!r}")
    ho, so, io_ = read_result(ode_file)
    hs, ss, is_ = read_result(sde_file)
    ht, st, it = read_result(truth_file)
    row = {"dataset": dataset, "w_r": float(w_r),
           "ode_truth": metrics.w2_squared(ho, ht), "sde_truth": metrics.w2_squared(hs, ht), "ode_sde": metrics.w2_squared(ho, hs),
           "sliced_ode_truth": metrics.sliced_w2(so, st), "sliced_sde_truth": metrics.sliced_w2(ss, st), "sliced_ode_sde": metrics.sliced_w2(so, ss),
           "n": io_["n"], "dropped_ode": io_["dropped"], "dropped_sde": is_["dropped"], "fp_residual": float("nan"), "final_dsm": float("nan"),
           "floor": float("nan"), "floor_std": float("nan")}
    if checkpoint is not None:
        model, _, summary = load_checkpoint(checkpoint)
        row["fp_residual"] = losses.mean_squared_residual(model, n=20_000, seed=0)
        row["final_dsm"] = summary.get("final_dsm", float("nan"))
    elif model is not None:
        row["fp_residual"] = losses.mean_squared_residual(model, n=20_000, seed=0)
    row.update(w2_uncertainty({"ode_truth": ((ho, io_), (ht, it)), "sde_truth": ((hs, is_), (ht, it)), "ode_sde": ((ho, io_), (hs, is_))},
                              bootstrap, bootstrap_seed, dataset, w_r, workers=workers))
    return row


def write_json_atomic(path, obj) -> None:
    """Atomic JSON write (re-exported for the CLI)."""
    write_json(path, obj)


def write_table(rows: list[dict], out: Path) -> None:
    """Long-form CSV of evaluate rows."""
    write_rows(rows, TABLE_FIELDS, out)


def read_table(path) -> list[dict]:
    """Rows of a long-form CSV with numbers parsed."""
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({k: (v if k == "dataset" else float(v)) for k, v in r.items()})
    return rows


def pivot(rows: list[dict], column: str, w_values=W_R_VALUES, names=datasets.PAPER_NAMES) -> np.ndarray:
    """(data set × w_R) array of one column of evaluate rows."""
    out = np.full((len(names), len(w_values)), np.nan)
    for r in rows:
        if r["dataset"] in names and float(r["w_r"]) in w_values:
            out[names.index(r["dataset"]), list(w_values).index(float(r["w_r"]))] = float(r[column])
    return out


RESIDUAL_FIELDS = ("source", "dataset", "w_r", "total", "time_only", "centred", "score_form")


def residual_rows(models: list[tuple[str, str, float, object]], n_x: int = 2_000, n_t: int = 10, seed: int = 0) -> list[dict]:
    """Residual decomposition (losses.residual_decomposition) for (source, dataset, w_r, model) tuples."""
    rows = []
    for source, d, w, m in models:
        rows.append({"source": source, "dataset": d, "w_r": float(w), **losses.residual_decomposition(m, n_x=n_x, n_t=n_t, seed=seed)})
    return rows


def write_rows(rows: list[dict], fields, out: Path) -> None:
    """Generic CSV writer (atomic)."""
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    wr.writeheader()
    for r in rows:
        wr.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    atomic_write_text(out, buf.getvalue())
