"""Diagnose any 2-D score model: the ODE–SDE gap and the Fokker–Planck residual in one call (book chapter diagnose).

`diagnose(model, data, sde=…, n=…, nfe=…, seed=…)` samples the model's probability-flow ODE and reverse SDE under the
given forward SDE, measures W2² ODE–data, SDE–data and ODE–SDE on a grid that follows the data (bootstrap intervals,
Monte Carlo floor, dropped samples), and the FP residual: for a potential φ(x, t) the log-density residual (total,
centred, time-only) and its gradient; for a plain score s(x, t) the score-form residual and the curl of s.
Every input is checked before any work (`prepare`), with one line naming what is wrong.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from . import datasets, evaluation, losses, metrics, samplers
from . import sde as sdes
from .experiment import SUBSAMPLE
from .models import PotentialMLP, load_published

KINDS = ("potential", "score")
"""What a model computes: a potential φ(x, t) → (n,) (score ∇φ) or a score s(x, t) → (n, 2)."""
DATA_SUFFIXES = (".npy", ".csv")
"""Files of data samples `diagnose` reads (shape (n, 2))."""
MODEL_SUFFIXES = (".pt", ".npz")
"""Model files: a PotentialMLP checkpoint or a TorchScript module (.pt), an authors'-release network (.npz)."""
DEFAULT_N = 20_000
DEFAULT_NFE = 800
DEFAULT_BOOTSTRAP = 8
FLOOR_REPEATS = 2
FIELD_N = 40
"""Grid points per axis of the residual field in the report's figure."""
W2_KEYS = ("ode_sde", "ode_data", "sde_data")


@dataclass(frozen=True)
class Model:
    """A model to diagnose: its kind, the callable (potential or score), and what the samplers get (the fast path of a PotentialMLP)."""

    kind: str
    fn: Callable
    label: str

    def score(self, x, t) -> torch.Tensor:
        """s(x, t): the model's score, or ∇_x of its potential."""
        if self.kind == "score":
            return self.fn(x, t)
        if isinstance(self.fn, PotentialMLP):
            return self.fn.score(x, t)
        with torch.enable_grad():
            xg = torch.as_tensor(x).detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self.fn(xg, t).sum(), xg)
        return g.detach()

    @property
    def sampler_score(self):
        """What samplers.sample gets: a PotentialMLP itself (its explicit pass), else the score callable."""
        return self.fn if isinstance(self.fn, PotentialMLP) else self.score


def _load_model_file(path: Path):
    """A PotentialMLP checkpoint or a TorchScript module (.pt), or an authors'-release network (.npz)."""
    if not path.is_file():
        raise FileNotFoundError(f"--model: no such file: {path}")
    if path.suffix == ".npz":
        return load_published(path), f"authors' network {path.name}"
    if path.suffix != ".pt":
        raise ValueError(f"--model: {path.name} is not a model file; allowed: {', '.join(MODEL_SUFFIXES)} "
                         "(a PotentialMLP checkpoint or TorchScript module, or an authors'-release .npz)")
    from .results import load_checkpoint

    try:
        model, _, _ = load_checkpoint(path)
        return model, f"checkpoint {path.name}"
    except Exception:  # noqa: BLE001 - not a checkpoint: try TorchScript next
        pass
    try:
        return torch.jit.load(str(path), map_location="cpu").eval(), f"TorchScript {path.name}"
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"--model: {path} is neither a scoregap checkpoint nor a TorchScript module ({err.__class__.__name__})") from None


def load_model(model, kind: str | None = None, probe_t: float = 0.5) -> Model:
    """A Model from a path, a PotentialMLP, any torch.nn.Module or callable (x, t) → (n,) or (n, 2).

    The kind is read from the output shape on a probe batch unless given; NaN or a wrong shape is an error.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} (or None: from the output shape), got {kind!r}")
    label = type(model).__name__
    if isinstance(model, (str, Path)):
        model, label = _load_model_file(Path(model))
    if not callable(model):
        raise ValueError(f"model must be a path, a torch.nn.Module or a callable (x, t) → (n,) or (n, 2); got {type(model).__name__}")
    if isinstance(model, torch.nn.Module):
        model.eval()
    if isinstance(model, PotentialMLP):
        return Model("potential", model, label)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(16, 2, generator=g) * 4 - 2).requires_grad_(kind != "score")
    t = torch.full((16, 1), float(probe_t))
    try:
        with torch.enable_grad():
            out = model(x, t)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"model: calling it as model(x, t) with x (16, 2), t (16, 1) failed: {err.__class__.__name__}: {err}") from None
    out = torch.as_tensor(out)
    shape = tuple(out.shape)
    found = "potential" if shape in ((16,), (16, 1)) else "score" if shape == (16, 2) else None
    if found is None:
        raise ValueError(f"model: output of shape {shape} for 16 points; a potential returns (n,) or (n, 1), a score (n, 2)")
    if kind is not None and kind != found:
        raise ValueError(f"model: kind={kind!r} but its output has shape {shape} (a {found})")
    if not torch.isfinite(out).all():
        raise ValueError("model: returned NaN or infinite values on a probe batch (16 points in [-2, 2]², t = 0.5)")
    return Model(found, _time_column(model, flatten=found == "potential"), label)


def _time_column(model, flatten: bool) -> Callable:
    """model(x, t) with t always a tensor (n, 1) in x's dtype (samplers pass a float), a potential's output flattened to (n,)."""
    def fn(x, t):
        x = torch.as_tensor(x)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.reshape(1, 1).expand(x.shape[0], 1) if t.numel() == 1 else t.reshape(-1, 1)
        out = model(x, t)
        return out.reshape(-1) if flatten else out
    return fn


def load_data(data, name: str | None = None) -> datasets.Distribution:
    """A data law from a data-set name, a .npy/.csv file of shape (n, 2), an array (n, 2) or a callable sampler fn(n, seed)."""
    if isinstance(data, datasets.Distribution):
        return data
    if isinstance(data, str) and data in datasets.ALL_NAMES:
        return datasets.get(data)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if path.suffix not in DATA_SUFFIXES:
            raise ValueError(f"--data: {data!r} is neither a data-set name ({', '.join(datasets.ALL_NAMES)}) "
                             f"nor a {' or '.join(DATA_SUFFIXES)} file of samples (n, 2)")
        if not path.is_file():
            raise FileNotFoundError(f"--data: no such file: {path}")
        try:
            arr = np.load(path) if path.suffix == ".npy" else _read_csv(path)
        except ValueError as err:
            raise ValueError(f"--data: {path.name} could not be read as numbers: {err}") from None
        arr = np.asarray(arr, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
            raise ValueError(f"--data: {path.name} has shape {arr.shape}; expected (n, 2) samples with n >= 2")
        if not np.isfinite(arr).all():
            raise ValueError(f"--data: {path.name} contains NaN or infinite values")
        return datasets.Samples(arr, name=path.stem)
    if callable(data):
        return datasets.FromSampler(data, name=name or getattr(data, "__name__", "sampler"))
    if isinstance(data, (np.ndarray, torch.Tensor)):
        return datasets.Samples(sdes.as_points(torch.as_tensor(data), "data"), name=name or "samples")
    raise ValueError(f"data must be a data-set name ({', '.join(datasets.ALL_NAMES)}), a .npy/.csv path, an (n, 2) array "
                     f"or a sampler fn(n, seed); got {type(data).__name__}")


def _read_csv(path: Path) -> np.ndarray:
    """Numbers of a CSV file, with or without one header line."""
    try:
        return np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError:
        return np.loadtxt(path, delimiter=",", ndmin=2, skiprows=1)


def evaluation_box(data: datasets.Distribution, x: torch.Tensor) -> float:
    """Half-width of the evaluation square: the paper's 3.5 for its data sets and any law inside it, else the 0.999
    quantile of |coordinate| × 1.15 rounded up to a multiple of 0.5."""
    if data.name in datasets.NAMES:
        return metrics.BOX
    q = float(np.quantile(np.abs(x.double().numpy()), 0.999)) * 1.15
    return max(metrics.BOX, math.ceil(q * 2) / 2)


@dataclass(frozen=True)
class Settings:
    """A validated diagnosis: model, data law, forward SDE, sizes and the evaluation grid."""

    model: Model
    data: datasets.Distribution
    sde: sdes.SDE
    n: int
    nfe: int
    seed: int
    bootstrap: int
    floor_repeats: int
    box: float
    grid_n: int
    n_data: int
    schedule: str


def _positive_int(value, name: str, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return int(value)


def prepare(model, data, sde="ou", n: int = DEFAULT_N, nfe: int = DEFAULT_NFE, seed: int = 0, bootstrap: int = DEFAULT_BOOTSTRAP,
            floor_repeats: int = FLOOR_REPEATS, kind: str | None = None, schedule: str | None = None,
            grid_n: int = metrics.GRID_N) -> Settings:
    """Check every input (one clear error naming the first bad one) before any expensive work."""
    n = _positive_int(n, "n", 100)
    grid_n = _positive_int(grid_n, "grid_n", 8)
    nfe = _positive_int(nfe, "nfe", 11)
    seed = _positive_int(seed, "seed", 0)
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, (int, np.integer)) or bootstrap < 0 or bootstrap == 1:
        raise ValueError(f"bootstrap must be 0 (no intervals) or an integer >= 2 (replicates), got {bootstrap!r}")
    floor_repeats = _positive_int(floor_repeats, "floor_repeats", 1)
    if schedule is not None and schedule not in samplers.SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(samplers.SCHEDULES)} (or None: the SDE's default), got {schedule!r}")
    d = load_data(data)
    probe = d.sample(min(n, 2000), seed=seed)
    if isinstance(sde, str) and sde not in sdes.NAMES:
        raise ValueError(f"sde must be one of {', '.join(sdes.NAMES)} or an SDE object, got {sde!r}")
    if not isinstance(sde, (str, sdes.SDE)):
        raise ValueError(f"sde must be one of {', '.join(sdes.NAMES)} or an SDE object, got {type(sde).__name__}")
    process = sdes.get(sde, probe)
    process.check_prior(probe)
    m = load_model(model, kind=kind, probe_t=0.5 * process.T)
    n_data = d.points.shape[0] if isinstance(d, datasets.Samples) else n
    return Settings(model=m, data=d, sde=process, n=n, nfe=nfe, seed=seed, bootstrap=int(bootstrap), floor_repeats=floor_repeats,
                    box=evaluation_box(d, probe), grid_n=grid_n, n_data=n_data,
                    schedule=schedule or process.schedule)


@dataclass(frozen=True)
class Report:
    """What `diagnose` found: `summary` (the JSON report) and the arrays of its figure."""

    summary: dict
    hists: dict = field(repr=False)
    """Normalised histograms on the evaluation grid: 'ode', 'sde', 'data'."""
    residual_field: np.ndarray = field(repr=False)
    """RMS over time of the FP residual (potential: r; score model: |r_s|) on a FIELD_N² grid over the box."""

    def __getitem__(self, key):
        return self.summary[key]

    def __str__(self) -> str:
        s = self.summary
        lines = [f"{s['model']} ({s['kind']}) on {s['data']}, sde {s['sde']}, n = {s['n']}, nfe = {s['nfe']}, "
                 f"box [-{s['box']}, {s['box']}]², floor {s['floor']:.3g}"]
        for k in W2_KEYS:
            e = s[k]
            lines.append(f"  W2² {k.replace('_', '–'):<9} {e['estimate']:.4g}  [{e['ci_low']:.4g}, {e['ci_high']:.4g}]")
        lines.append("  dropped " + ", ".join(f"{k} {v:.2%}" for k, v in s["dropped"].items()))
        lines.append("  FP residual " + ", ".join(f"{k} {v:.4g}" for k, v in s["fp_residual"].items()))
        lines.append(f"  {s['seconds']['total']:.0f} s")
        return "\n".join(lines)


def _grid_points(box: float, n: int):
    return None if box == metrics.BOX and n == metrics.GRID_N else metrics.grid_points(n, box)


def _w2_entry(ca: np.ndarray, cb: np.ndarray, st: Settings, key: str, workers: int) -> dict:
    """W2² with its bootstrap interval (metrics.w2_bootstrap) as {estimate, ci_low, ci_high}."""
    pts = _grid_points(st.box, st.grid_n)
    if st.bootstrap == 0:
        a, b = ca / ca.sum(), cb / cb.sum()
        est = metrics.w2_squared(a, b, points=pts)
        return {"estimate": est, "ci_low": float("nan"), "ci_high": float("nan")}
    seed = (st.seed * 1_000_003 + W2_KEYS.index(key)) % (2**31)
    iv = metrics.w2_bootstrap(ca, cb, n_boot=st.bootstrap, seed=seed, points=pts, workers=workers)
    return {"estimate": iv.estimate, "ci_low": iv.low, "ci_high": iv.high}


def _counts(x, st: Settings) -> tuple[np.ndarray, int]:
    w, dropped = metrics.histogram(x, n=st.grid_n, box=st.box)
    return np.rint(w * (x.shape[0] - dropped)).astype(np.int64), dropped


def _paper_grid(st: Settings) -> bool:
    """Whether the evaluation grid is the paper's (then evaluation's W2² columns, intervals and floor apply as they are)."""
    return st.box == metrics.BOX and st.grid_n == metrics.GRID_N


PAIRS = {"ode_sde": ("ode", "sde"), "ode_data": ("ode", "data"), "sde_data": ("sde", "data")}
"""The report's W2² entries: which two sample sets each compares."""
_EVALUATION_COLUMNS = {"ode_sde": "ode_sde", "ode_data": "ode_truth", "sde_data": "sde_truth"}


def _w2_entries(xs: dict, counts: dict, dropped: dict, st: Settings, workers: int) -> dict:
    """The three W2² entries {estimate, ci_low, ci_high}: on the paper's grid through evaluation.plugin_columns and
    evaluation.w2_uncertainty (the table's own computation), on another grid by metrics.w2_bootstrap on its points."""
    if not _paper_grid(st):
        return {key: _w2_entry(counts[a], counts[b], st, key, workers) for key, (a, b) in PAIRS.items()}
    res = {k: (counts[k] / counts[k].sum(), x[:SUBSAMPLE].detach().cpu().numpy(), {"n": int(x.shape[0]), "dropped": int(dropped[k])})
           for k, x in xs.items()}
    plug = evaluation.plugin_columns(res["ode"], res["sde"], res["data"])
    unc = evaluation.w2_uncertainty({key: ((res[a][0], res[a][2]), (res[b][0], res[b][2])) for key, (a, b) in PAIRS.items()},
                                    st.bootstrap, st.seed, st.data.name, 0.0, workers=workers)
    return {key: {"estimate": float(plug[col]), "ci_low": float(unc[f"{key}_ci_low"]), "ci_high": float(unc[f"{key}_ci_high"])}
            for key, col in _EVALUATION_COLUMNS.items()}


def _floor(st: Settings) -> tuple[float, float]:
    """Monte Carlo floor {eq}`mc-floor`: mean and std of W2² between histograms of independent n-samples of the data
    (evaluation.floor for the paper's data sets on its grid)."""
    if _paper_grid(st) and st.data.name in datasets.NAMES and not isinstance(st.data, datasets.SampleOnly):
        return evaluation.floor(st.data.name, st.n, repeats=st.floor_repeats)
    pts = _grid_points(st.box, st.grid_n)
    vals = []
    for r in range(st.floor_repeats):
        a, _ = metrics.histogram(st.data.sample(st.n_data, seed=st.seed + 1_000 + 2 * r), n=st.grid_n, box=st.box)
        b, _ = metrics.histogram(st.data.sample(st.n, seed=st.seed + 1_001 + 2 * r), n=st.grid_n, box=st.box)
        vals.append(metrics.w2_squared(a, b, points=pts))
    return float(np.mean(vals)), float(np.std(vals))


def _residual(st: Settings, n_x: int, n_t: int) -> dict:
    """FP residual summary: potentials by losses.residual_decomposition (curl 0: a gradient), scores by score_residual_summary."""
    m = st.model
    if m.kind == "potential":
        out = losses.residual_decomposition(m.fn, n_x=n_x, n_t=n_t, seed=st.seed, sde=st.sde, box=st.box)
        if not all(math.isfinite(v) for v in out.values()):
            raise ValueError("model: its FP residual is NaN or infinite at collocation points")
        return {**out, "curl": 0.0}
    return losses.score_residual_summary(m.fn, n_x=n_x, n_t=n_t, seed=st.seed, sde=st.sde, box=st.box)


def _residual_field(st: Settings, n_t: int = 5) -> np.ndarray:
    """RMS over n_t times (midpoints of equal slabs of [eps, T]) of the residual on a FIELD_N² grid (row = y index)."""
    x = torch.as_tensor(metrics.grid_points(FIELD_N, st.box), dtype=torch.float32)
    acc = torch.zeros(x.shape[0], dtype=torch.float64)
    edges = np.linspace(st.sde.eps, st.sde.T, n_t + 1)
    for k in range(n_t):
        t = float(0.5 * (edges[k] + edges[k + 1]))
        if st.model.kind == "potential":
            r = losses.fp_residual_batched(st.model.fn, x, t, sde=st.sde) if isinstance(st.model.fn, PotentialMLP) else \
                losses.fp_residual(st.model.fn, x, t, sde=st.sde).detach()
            acc += r.double() ** 2
        else:
            acc += (losses.score_fp_residual(st.model.fn, x, t, sde=st.sde).double() ** 2).sum(1)
    return (acc / n_t).sqrt().numpy().reshape(FIELD_N, FIELD_N)


def run(st: Settings, progress: bool = True, workers: int = 1, n_x: int = 1_000, n_t: int = 10) -> Report:
    """The diagnosis of validated settings (see `diagnose`); the FP residual on n_t time slabs of n_x points each."""
    t_all = time.perf_counter()
    seconds = {}
    bar = tqdm(total=6, desc="diagnose", disable=not progress, unit="stage")
    xs = {}
    for i, method in enumerate(("ode", "sde")):
        bar.set_postfix_str(f"{method} sampling")
        t0 = time.perf_counter()
        try:
            x = samplers.sample(st.model.sampler_score, st.n, method=method, nfe=st.nfe, schedule=st.schedule, seed=st.seed + i,
                                progress=progress, sde=st.sde)
        except samplers.NonFiniteError as err:
            raise ValueError(f"model: {err}") from None
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x).all(1)).sum())
            raise ValueError(f"model: {bad} of {st.n} {method.upper()} samples are NaN or infinite (the model's score diverges)")
        xs[method] = x
        seconds[f"sample_{method}"] = time.perf_counter() - t0
        bar.update(1)
    xs["data"] = st.data.points if isinstance(st.data, datasets.Samples) else st.data.sample(st.n_data, seed=st.seed + 2)
    counts, dropped = {}, {}
    for k, x in xs.items():
        inside = int(((x.abs() <= st.box).all(1)).sum())
        if inside == 0:
            raise ValueError(f"{'data' if k == 'data' else 'model'}: all {x.shape[0]} {k.upper() if k != 'data' else 'data'} samples lie "
                             f"outside the evaluation box [-{st.box}, {st.box}]²" + (" (the model does not bring them back to the data)" if k != "data" else ""))
        counts[k], dropped[k] = _counts(x, st)
    bar.set_postfix_str("W2² and bootstrap")
    t0 = time.perf_counter()
    w2 = _w2_entries(xs, counts, dropped, st, workers)
    seconds["w2"] = time.perf_counter() - t0
    bar.update(1)
    bar.set_postfix_str("Monte Carlo floor")
    t0 = time.perf_counter()
    floor, floor_std = _floor(st)
    seconds["floor"] = time.perf_counter() - t0
    bar.update(1)
    bar.set_postfix_str("FP residual")
    t0 = time.perf_counter()
    residual = _residual(st, n_x, n_t)
    seconds["residual"] = time.perf_counter() - t0
    bar.update(1)
    bar.set_postfix_str("residual field")
    t0 = time.perf_counter()
    field_ = _residual_field(st)
    seconds["residual_field"] = time.perf_counter() - t0
    bar.update(1)
    bar.close()
    seconds["total"] = time.perf_counter() - t_all
    sizes = {"ode": st.n, "sde": st.n, "data": st.n_data}
    summary = {
        "model": st.model.label, "kind": st.model.kind, "data": st.data.name,
        "sde": st.sde.name, "sde_parameters": {k: v for k, v in vars(st.sde).items() if k != "name"},
        "n": st.n, "n_data": st.n_data, "nfe": st.nfe, "schedule": st.schedule, "seed": st.seed, "bootstrap": st.bootstrap,
        "box": st.box, "grid_n": st.grid_n,
        **w2,
        "floor": floor, "floor_std": floor_std, "floor_repeats": st.floor_repeats,
        "dropped": {k: dropped[k] / sizes[k] for k in sizes}, "dropped_count": dropped,
        "fp_residual": residual,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    hists = {k: c / c.sum() for k, c in counts.items()}
    return Report(summary=summary, hists=hists, residual_field=field_)


def diagnose(model, data, sde="ou", n: int = DEFAULT_N, nfe: int = DEFAULT_NFE, seed: int = 0, bootstrap: int = DEFAULT_BOOTSTRAP,
             floor_repeats: int = FLOOR_REPEATS, kind: str | None = None, schedule: str | None = None, progress: bool = True,
             workers: int = 1, grid_n: int = metrics.GRID_N, n_x: int = 1_000, n_t: int = 10) -> Report:
    """The ODE–SDE gap and FP residual of `model` on `data` under the forward `sde` (book chapter diagnose).

    model: a path (PotentialMLP checkpoint or TorchScript .pt, authors'-release .npz), a PotentialMLP, any torch.nn.Module or
    callable (x, t) → (n,) (a potential) or (n, 2) (a score). data: a data-set name (datasets.ALL_NAMES), a .npy/.csv file
    or array of samples (n, 2), or a sampler fn(n, seed). sde: "ou" (the paper's), "vp", "ve" (σ_max from the data) or an
    SDE object. n samples per sampler, nfe steps of the SDE's default grid, `bootstrap` replicates per W2² interval, histograms
    on a grid_n × grid_n grid (the paper's 64) over a box that follows the data.
    """
    st = prepare(model, data, sde=sde, n=n, nfe=nfe, seed=seed, bootstrap=bootstrap, floor_repeats=floor_repeats, kind=kind,
                 schedule=schedule, grid_n=grid_n)
    return run(st, progress=progress, workers=workers, n_x=n_x, n_t=n_t)


def to_json(report: Report) -> dict:
    """The report's summary with NaN (no interval) written as null."""
    def clean(v):
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (np.floating, np.integer)):
            return clean(v.item())
        return v
    return clean(report.summary)
