"""One unit of work each: train a model, sample it, histogram exact data (the CLI and the workflow call these; W2² tables:
evaluation.py)."""
from __future__ import annotations

import csv
import io
import time
import zlib
from pathlib import Path

import numpy as np
import torch

from . import datasets, losses, metrics, provenance, samplers
from .config import ExperimentConfig, model_name
from .results import atomic_write_text, load_npz, save_npz, write_json
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


def run_train(configs: list[ExperimentConfig], out_paths: list, progress: bool = True, snapshots: int = 0, fresh: bool = False) -> list[dict]:
    """Train the given models together and write their checkpoints (and `snapshots` snapshots along training); `fresh`
    discards a saved training state instead of resuming it."""
    return train(configs, out_paths, progress=progress, snapshots=snapshots, fresh=fresh)


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
               batch_size: int = 200_000, inputs: dict | None = None) -> dict:
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
    record = provenance.make_record("sample", cfg, inputs, model_digest=key["model"])
    save_npz(out, hist=hist, subsample=x[:SUBSAMPLE].numpy().astype(np.float32), info=np.array(repr(info)),
             record=provenance.record_array(record))
    for f in (part, Path(str(part) + ".sha256")):
        f.unlink(missing_ok=True)
    return info


def run_truth(cfg: ExperimentConfig, dataset: str, out: Path) -> dict:
    """Histogram of n_samples exact data samples (the 'truth' column)."""
    seed = stable_seed(cfg.truth_seed, dataset, "truth")
    x = datasets.get(dataset).sample(cfg.n_samples, seed=seed)
    hist, dropped = metrics.histogram(x, n=cfg.grid_n, box=cfg.box)
    info = {"dataset": dataset, "method": "truth", "n": cfg.n_samples, "dropped": dropped, "seed": seed}
    save_npz(out, hist=hist, subsample=x[:SUBSAMPLE].numpy(), info=np.array(repr(info)),
             record=provenance.record_array(provenance.make_record("truth", cfg)))
    return info


def read_result(path) -> tuple[np.ndarray, np.ndarray, dict]:
    """(histogram, subsample, info) of a sample or truth file."""
    import ast

    d = load_npz(path)
    return d["hist"], d["subsample"], ast.literal_eval(str(d["info"]))


def write_json_atomic(path, obj) -> None:
    """Atomic JSON write (re-exported for the CLI)."""
    write_json(path, obj)


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
