"""The notebooks' data layer: validated parameters, cached or recomputed results (tables and claims: evaluation.py).

Every notebook of the book starts with `setup(...)` on its papermill parameters; the returned `Book`
knows where the shipped results of the preset live (data/results/<preset>/, data/checkpoints/<preset>/)
and either reads them (`recompute=False`, the default for the `cpu` preset: fast, no sampling) or
recomputes the small version of the experiment with the library's own units of work
(`experiment.run_sample`, `experiment.run_truth`, `evaluation.evaluate_row`; the default for the
CI preset `quick`). Recomputed files go to a cache folder (SCOREGAP_CACHE_DIR, default
book/executed/cache) keyed by everything that determines them, so chapters share them.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import warnings

import numpy as np
import torch

with warnings.catch_warnings():  # tqdm.auto warns once about missing ipywidgets inside a kernel; the book never shows bars
    warnings.simplefilter("ignore")
    import tqdm.auto  # noqa: F401

from . import config, evaluation, experiment, figures, losses, metrics, samplers
from . import book_layout
from . import datasets as _ds
from .config import model_name
from .parallel import default_workers
from .results import load_checkpoint

ROOT = figures.ROOT
PUBLISHED_RESULTS = ROOT / "data" / "results" / "published"
BENCH_FILE = ROOT / "data" / "bench.json"


def given(**values) -> dict:
    """The keyword arguments that are not None (a None parameter means: the preset's value)."""
    return {k: v for k, v in values.items() if v is not None}


def _as_list(value, name: str) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ValueError(f"invalid {name}={value!r}: give a list, e.g. {name}=['checker']" if name == "datasets"
                         else f"invalid {name}={value!r}: give a list, e.g. {name}=[0.0, 10.0]")
    if not value:
        raise ValueError(f"invalid {name}=[]: give at least one value")
    return list(value)


def _sha_sidecar(path: Path) -> str:
    side = Path(str(path) + ".sha256")
    if side.is_file():
        return side.read_text().split()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"


def _code_hash() -> str:
    """The code hash of the numerics (provenance.CODE["book"]): cached recomputations are invalidated when they change."""
    from .provenance import code_hash

    return code_hash("book")


def _key(*parts) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:12]


@dataclass
class Book:
    """Validated notebook parameters plus access to the results they select."""

    notebook: str
    preset: str
    datasets: list
    w_values: list
    n_samples: int
    nfe: int
    seed: int
    device: str
    recompute: bool
    bootstrap: int
    models_preset: str
    results_dir: Path
    checkpoint_dir: Path
    figure_dir: Path
    cache_dir: Path
    reference_dir: Path | None
    configs: dict = field(default_factory=dict)
    _models: dict = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------------ description
    def config(self, dataset: str, w_r: float = 0.0) -> config.ExperimentConfig:
        """The validated experiment configuration of one model."""
        key = (dataset, float(w_r))
        if key not in self.configs:
            self.configs[key] = config.make(self.preset, dataset=dataset, w_r=float(w_r), n_samples=self.n_samples, nfe=self.nfe,
                                            sample_seed=self.seed, truth_seed=self.seed + 1, device=self.device)
        return self.configs[key]

    def summary(self) -> str:
        """Human-readable account of what this run reads or computes."""
        mode = (f"recomputing with n = {self.n_samples:,} samples per sampler, nfe = {self.nfe}, seed = {self.seed}"
                if self.recompute else f"reading the cached results of preset '{self.models_preset}' from {self._rel(self.results_dir)}")
        return (f"preset '{self.preset}' ({mode}); models: {self._rel(self.checkpoint_dir)}; "
                f"data sets {', '.join(self.datasets)}; w_R ∈ {{{', '.join(f'{w:g}' for w in self.w_values)}}}; device {self.device}; "
                f"figures → {self._rel(self.figure_dir)}")

    @staticmethod
    def _rel(p: Path) -> str:
        try:
            return str(Path(p).resolve().relative_to(ROOT))
        except ValueError:
            return str(p)

    # ------------------------------------------------------------------ models and logs
    def checkpoint(self, dataset: str, w_r: float) -> Path:
        """Path of a shipped checkpoint (FileNotFoundError with advice when it is missing)."""
        p = self.checkpoint_dir / f"{model_name(dataset, w_r)}.pt"
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint {p} is missing: train it with `python -m scoregap train --preset {self.models_preset} "
                                    f"--dataset {dataset} --w-r {w_r} --out-dir {self.checkpoint_dir}` (or run the workflow)")
        return p

    def model(self, dataset: str, w_r: float):
        """The trained PotentialMLP of (dataset, w_R), loaded once and verified against its checksum."""
        key = (dataset, float(w_r))
        if key not in self._models:
            m, cfg, summary = load_checkpoint(self.checkpoint(dataset, w_r))
            m.requires_grad_(False)
            self._models[key] = (m, summary, cfg)
        return self._models[key][0]

    def model_config(self, dataset: str, w_r: float) -> config.ExperimentConfig:
        """The configuration the shipped model was trained with (stored in its checkpoint)."""
        self.model(dataset, w_r)
        return self._models[(dataset, float(w_r))][2]

    def training_summary(self, dataset: str, w_r: float) -> dict:
        self.model(dataset, w_r)
        return self._models[(dataset, float(w_r))][1]

    def training_log(self, dataset: str, w_r: float) -> dict:
        """The CSV training log next to the checkpoint as arrays (step, lr, dsm, fp_residual, loss, seconds)."""
        p = self.checkpoint_dir / f"{model_name(dataset, w_r)}.csv"
        if not p.is_file():
            raise FileNotFoundError(f"training log {p} is missing (it is written next to the checkpoint by `python -m scoregap train`)")
        arr = np.genfromtxt(p, delimiter=",", names=True)
        return {k: np.atleast_1d(arr[k]).astype(float) for k in arr.dtype.names}

    # ------------------------------------------------------------------ samples
    def _cache(self, *parts) -> Path:
        p = self.cache_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def samples(self, dataset: str, w_r: float, method: str):
        """(histogram, subsample, info) of the trained model's ODE or SDE samples at t = 0."""
        name = evaluation.sample_file_name(dataset, w_r, method)
        if not self.recompute:
            p = self.results_dir / "samples" / name
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing: run the workflow for preset '{self.models_preset}', or execute this notebook "
                                        "with recompute=True (samples the shipped models at the chosen n_samples and nfe)")
            return experiment.read_result(p)
        cfg = self.config(dataset, w_r)
        ck = self.checkpoint(dataset, w_r)
        key = _key(_code_hash(), _sha_sidecar(ck), cfg.n_samples, cfg.nfe, cfg.schedule, cfg.sample_seed, cfg.device, method)
        out = self._cache("samples", f"{model_name(dataset, w_r)}_{method}_{key}.npz")
        if not out.is_file():
            experiment.run_sample(self.model(dataset, w_r), cfg, dataset, w_r, method, out, progress=False, extra={"model": ck.name})
        return experiment.read_result(out)

    def sample_file(self, dataset: str, w_r: float, method: str) -> Path:
        """File behind `samples` (computing it first in recompute mode)."""
        self.samples(dataset, w_r, method)
        if not self.recompute:
            return self.results_dir / "samples" / evaluation.sample_file_name(dataset, w_r, method)
        cfg = self.config(dataset, w_r)
        key = _key(_code_hash(), _sha_sidecar(self.checkpoint(dataset, w_r)), cfg.n_samples, cfg.nfe, cfg.schedule, cfg.sample_seed, cfg.device, method)
        return self._cache("samples", f"{model_name(dataset, w_r)}_{method}_{key}.npz")

    def truth_file(self, dataset: str) -> Path:
        """Histogram file of exact data samples at the run's sample size."""
        if not self.recompute:
            p = self.results_dir / "truth" / evaluation.truth_file_name(dataset)
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing: run the workflow for preset '{self.models_preset}' (or recompute=True)")
            return p
        cfg = self.config(dataset)
        out = self._cache("truth", f"truth_{dataset}_{_key(_code_hash(), cfg.n_samples, cfg.truth_seed)}.npz")
        if not out.is_file():
            experiment.run_truth(cfg, dataset, out)
        return out

    def truth(self, dataset: str):
        """(histogram, subsample, info) of exact data samples."""
        return experiment.read_result(self.truth_file(dataset))

    def truth_or_exact(self, dataset: str, n: int, folders=()) -> tuple[np.ndarray, int]:
        """(histogram, n) of the first shipped truth file found (in `folders`, then the preset's), else of n fresh exact samples."""
        for folder in [*map(Path, folders), self.results_dir / "truth"]:
            p = folder / evaluation.truth_file_name(dataset)
            if p.is_file():
                h, _, info = experiment.read_result(p)
                return h, int(info["n"])
        return self.data_hist(dataset, n), int(n)

    def exact_samples(self, dataset: str, method: str, n: int, nfe: int, schedule: str = "paper"):
        """(histogram, dropped, seconds) of the reverse SDE / probability-flow ODE driven by the *exact* score."""
        import time

        seed = experiment.stable_seed(self.seed, dataset, "exact", method)
        out = self._cache("exact", f"{dataset}_{method}_{_key(_code_hash(), n, nfe, schedule, seed)}.json")
        if out.is_file():
            d = json.loads(out.read_text())
            return np.asarray(d["hist"]), d["dropped"], d["seconds"]
        t0 = time.perf_counter()
        x = samplers.sample(_ds.get(dataset).score, n, method=method, nfe=nfe, schedule=schedule, seed=seed, progress=False)
        seconds = time.perf_counter() - t0
        hist, dropped = metrics.histogram(x)
        out.write_text(json.dumps({"hist": hist.tolist(), "dropped": dropped, "seconds": seconds}))
        return hist, dropped, seconds

    def data_hist(self, dataset: str, n: int, seed_offset: int = 0) -> np.ndarray:
        """Histogram of n exact data samples (seeded by the run's seed)."""
        x = _ds.get(dataset).sample(n, seed=experiment.stable_seed(self.seed, dataset, "data", seed_offset))
        return metrics.histogram(x)[0]

    # ------------------------------------------------------------------ tables
    def table(self, bootstrap: int | None = None) -> list[dict]:
        """W2² rows (evaluation.TABLE_FIELDS) of every (data set, w_R) of this run. Recomputed rows get `bootstrap`
        replicates per W2² entry (None: the run's `bootstrap` parameter; 0: none); shipped tables carry their own."""
        bootstrap = self.bootstrap if bootstrap is None else bootstrap
        if not self.recompute:
            p = self.results_dir / evaluation.TABLE_FILE
            if not p.is_file():
                raise FileNotFoundError(f"{p} is missing: run the workflow for preset '{self.models_preset}' "
                                        "(`python -m scoregap evaluate`), or execute with recompute=True")
            rows = evaluation.read_table(p)
            want = {(d, float(w)) for d in self.datasets for w in self.w_values}
            have = {(r["dataset"], float(r["w_r"])) for r in rows}
            if want - have:
                raise FileNotFoundError(f"{p} lacks rows for {sorted(want - have)}")
            return [r for r in rows if (r["dataset"], float(r["w_r"])) in want]
        rows = []
        for d in self.datasets:
            for w in self.w_values:
                ode, sde, tru = self.sample_file(d, w, "ode"), self.sample_file(d, w, "sde"), self.truth_file(d)
                key = _key(ode.name, sde.name, tru.name) if not bootstrap else _key(ode.name, sde.name, tru.name, "bootstrap", bootstrap, self.seed)
                out = self._cache("rows", f"{model_name(d, w)}_{key}.json")
                if out.is_file():
                    row = json.loads(out.read_text())
                else:
                    row = evaluation.evaluate_row(d, w, ode, sde, tru, checkpoint=self.checkpoint(d, w), bootstrap=bootstrap,
                                                  bootstrap_seed=self.seed, workers=default_workers())
                    out.write_text(json.dumps(row))
                rows.append(row)
        return rows

    def pivot(self, rows: list[dict], column: str) -> np.ndarray:
        """(data set × w_R) array of one table column, in this run's order."""
        return evaluation.pivot(rows, column, w_values=tuple(self.w_values), names=tuple(self.datasets))

    def sample_size(self, rows: list[dict]) -> int:
        """The number of samples per sampler behind the table rows."""
        return evaluation.sample_size(rows)

    def floors(self, rows: list[dict]) -> dict:
        """{dataset: (mean, std)} of the Monte Carlo floor at the table's sample size: the table's own floor columns
        when it has them (written by `python -m scoregap evaluate`), else measured here."""
        n = self.sample_size(rows)
        stored = evaluation.table_floors(rows)
        return {d: stored[d] if d in stored else self.noise_floor(d, n) for d in self.datasets}

    def noise_floor(self, dataset: str, n: int, repeats: int = 3) -> tuple[float, float]:
        """evaluation.floor of a data set at n (seeded by the run's seed), cached across chapters."""
        path = self._cache("floors.json")
        store = json.loads(path.read_text()) if path.is_file() else {}
        key = f"{dataset}|{int(n)}|{repeats}|{self.seed}"
        if key not in store:
            store[key] = evaluation.floor(dataset, int(n), repeats=repeats, seed=experiment.stable_seed(self.seed, dataset, "floor"))
            path.write_text(json.dumps(store, indent=1, sort_keys=True))
        return tuple(store[key])

    def mean_dsm(self, dataset: str, n: int = 100_000, seed: int = 0) -> np.ndarray:
        """Mean DSM loss of each w_R model on one fixed batch (common random numbers across w_R)."""
        out = []
        for w in self.w_values:
            g = torch.Generator().manual_seed(int(seed))
            x0 = _ds.get(dataset).sample(n, generator=g)
            model = self.model(dataset, w)
            with torch.no_grad():
                out.append(float(losses.dsm_loss(model.score, x0, generator=g)))
        return np.asarray(out)

    # ------------------------------------------------------------------ figures
    def headline(self, fig) -> None:
        """Also save `fig` as book/executed/headline.png (the intro's picture) when figures go to the book's default folder."""
        default = ROOT / "book" / "executed" / "figures"
        if default not in self.figure_dir.resolve().parents:
            return
        out = book_layout.executed_dir(self.preset) / "headline.png"  # the CI book has its own
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=figures.DPI, metadata={"Software": None})

    def save(self, name: str, fig, numbers: dict) -> None:
        """figures.save_figure with the run's provenance (notebook, preset, seed, sizes, source hash)."""
        meta = {"notebook": self.notebook, "preset": self.preset, "seed": self.seed, "n_samples": self.n_samples, "nfe": self.nfe,
                "recompute": self.recompute, "source_hash": figures.source_hash(self.notebook)}
        figures.save_figure(name, fig, numbers, self.figure_dir, meta=meta)


# ---------------------------------------------------------------------- construction

RECOMPUTE_PARAMETERS = ("n_samples", "nfe", "seed", "bootstrap")
"""Notebook parameters that select what is sampled and evaluated: they act only when the chapter recomputes."""
RECOMPUTE_DEFAULTS = {"nfe": 50, "bootstrap": 5}
"""What a recomputing chapter uses for a parameter left None (CI-sized: nfe = 50 is 140 score evaluations per sample,
5 bootstrap replicates per W2² entry), unless the chapter's `defaults` say otherwise; n_samples: the preset's."""


def setup(notebook: str, preset: str = "cpu", datasets: list | None = None, w_values: list | None = None, n_samples: int | None = None,
          nfe: int | None = None, seed: int | None = None, device: str = "cpu", recompute=None, results_dir: str = "",
          checkpoint_dir: str = "", figure_dir: str = "", reference_dir: str = "", threads: int = 0, bootstrap: int | None = None,
          defaults: dict | None = None, live: tuple = ()) -> Book:
    """Validate a notebook's parameters through `config.make` and resolve its folders; fails fast with a clear message.

    recompute: None chooses by preset (the CI preset 'quick' recomputes, 'cpu' and 'paper' read cached results).
    n_samples, nfe, seed, bootstrap (RECOMPUTE_PARAMETERS): None means `defaults[name]` (over RECOMPUTE_DEFAULTS) when the
    chapter recomputes (else
    the preset's value, seed figures.DEFAULT_SEED, bootstrap 0). Without recompute they cannot act — the shipped results
    were made with their own — so giving one is an error naming it, unless the chapter lists it in `live` (it computes
    with it whatever the preset, e.g. samples of the exact score).
    """
    values = {"n_samples": n_samples, "nfe": nfe, "seed": seed, "bootstrap": bootstrap}
    defaults = {**RECOMPUTE_DEFAULTS, **(defaults or {})}
    if set(defaults) - set(RECOMPUTE_PARAMETERS) or set(live) - set(RECOMPUTE_PARAMETERS):
        raise ValueError(f"invalid defaults={defaults!r} or live={live!r}: names among {', '.join(RECOMPUTE_PARAMETERS)}")
    if preset in config.PRESETS and recompute in (None, False) and not (recompute is None and preset == figures.CI_PRESET):
        for name, v in values.items():
            if v is not None and name not in live:
                raise ValueError(f"invalid {name}={v!r}: it has no effect with preset '{preset}', which reads the shipped results "
                                 f"(made with their own {name}); pass recompute=True to recompute with it, or leave {name}=None")
    recomputing = recompute is True or (recompute is None and preset == figures.CI_PRESET)
    for name in RECOMPUTE_PARAMETERS:
        if values[name] is None and (recomputing or name in live):
            values[name] = defaults.get(name)
    n_samples, nfe = values["n_samples"], values["nfe"]
    seed = figures.DEFAULT_SEED if values["seed"] is None else values["seed"]
    bootstrap = 0 if values["bootstrap"] is None else values["bootstrap"]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"invalid seed={seed!r}: a non-negative integer")
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise ValueError(f"invalid bootstrap={bootstrap!r}: 0 (no intervals) or an integer >= 2 (replicates per W2² entry)")
    if notebook not in figures.NOTEBOOKS:
        raise ValueError(f"invalid notebook={notebook!r}: one of {', '.join(figures.NOTEBOOKS)}")
    if preset not in config.PRESETS:
        raise ValueError(f"invalid preset={preset!r}: allowed presets are {', '.join(config.PRESETS)}")
    ds = _as_list(datasets if datasets is not None else list(_ds.PAPER_NAMES), "datasets")
    ws = [float(w) if not isinstance(w, bool) and isinstance(w, (int, float)) else w
          for w in _as_list(w_values if w_values is not None else list(config.W_R_VALUES), "w_values")]
    for w in ws:
        if not isinstance(w, float):
            raise ValueError(f"invalid w_values entry {w!r}: must be a number")
    if recompute not in (None, True, False):
        raise ValueError(f"invalid recompute={recompute!r}: None (by preset), True or False")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"invalid threads={threads!r}: a non-negative integer (0 keeps torch's default)")
    base = None
    configs = {}
    for d in ds:
        for w in ws:
            cfg = config.make(preset, dataset=d, w_r=w, **given(n_samples=n_samples, nfe=nfe), sample_seed=seed, truth_seed=seed + 1,
                              device=device)
            configs[(d, w)] = cfg
            base = base or cfg
    if base.device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"invalid device={device!r}: CUDA is not available on this machine; use device='cpu'")
    threads = threads or int(os.environ.get("SCOREGAP_THREADS", "0") or 0)
    if threads:
        torch.set_num_threads(threads)
    models_preset = base.models_from or preset
    if recompute is None:
        recompute = preset == figures.CI_PRESET
    ref = reference_dir or os.environ.get("SCOREGAP_REFERENCE_DIR", "")
    ref_path = Path(ref) if ref else None
    if ref_path is not None and not ref_path.is_dir():
        raise ValueError(f"invalid reference_dir={ref!r}: not a directory (expected weights/ and precomputed_dists/ inside)")
    # the book build names its figure folder (SCOREGAP_FIGURE_DIR, workflow/rules/notebooks.smk); a run of its own goes to a
    # scratch folder and leaves the last build's figures (and intro picture) alone
    fig_dir = Path(figure_dir or os.environ.get("SCOREGAP_FIGURE_DIR", "") or (ROOT / "book" / "executed" / "scratch" / "figures" / preset))
    cache = Path(os.environ.get("SCOREGAP_CACHE_DIR", "") or (ROOT / "book" / "executed" / "cache")) / preset
    return Book(notebook=notebook, preset=preset, datasets=ds, w_values=ws, n_samples=base.n_samples, nfe=base.nfe, seed=int(seed),
                bootstrap=int(bootstrap),
                device=base.device, recompute=bool(recompute), models_preset=models_preset,
                results_dir=Path(results_dir) if results_dir else ROOT / "data" / "results" / models_preset,
                checkpoint_dir=Path(checkpoint_dir or os.environ.get("SCOREGAP_CHECKPOINT_DIR", "") or (ROOT / "data" / "checkpoints" / models_preset)),
                figure_dir=fig_dir, cache_dir=cache, reference_dir=ref_path, configs=configs)


# ---------------------------------------------------------------------- tables

def fmt(v, digits: int = 3) -> str:
    """Number in compact scientific/decimal notation for tables."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    v = float(v)
    if v == 0:
        return "0"
    if 1e-3 <= abs(v) < 1e4:
        return f"{v:.{digits}g}"
    return f"{v:.{digits - 1}e}"


def comparison_table(ours: np.ndarray, paper: np.ndarray | None, names, w_values, scale: float = 1e3):
    """pandas DataFrame: rows data sets, columns (w_R, ours/paper), values × `scale`."""
    import pandas as pd

    cols = []
    data = []
    for j, w in enumerate(w_values):
        cols.append((f"w_R = {float(w):g}", "ours"))
        if paper is not None:
            cols.append((f"w_R = {float(w):g}", "paper"))
    for i, _ in enumerate(names):
        row = []
        for j, _ in enumerate(w_values):
            row.append(fmt(ours[i, j] * scale))
            if paper is not None:
                row.append(fmt(paper[i, j] * scale))
        data.append(row)
    return pd.DataFrame(data, index=[_ds.LABELS.get(n, n) for n in names], columns=pd.MultiIndex.from_tuples(cols))


# ---------------------------------------------------------------------- published networks

def published_sample_files(names=_ds.PAPER_NAMES, w_values=config.W_R_VALUES, root=PUBLISHED_RESULTS) -> dict:
    """{(dataset, w_R): (ode_file, sde_file)} of the shipped samples of the authors' networks that exist."""
    out = {}
    for d in names:
        for w in w_values:
            o, s = (Path(root) / "samples" / evaluation.sample_file_name(d, w, m) for m in ("ode", "sde"))
            if o.is_file() and s.is_file():
                out[(d, float(w))] = (o, s)
    return out


# ---------------------------------------------------------------------- checks used in the chapters

def exact_residual(dataset: str, n: int = 2_000, seed: int = 0) -> dict:
    """FP residual of the exact log p_t (float64 autograd) at uniform collocation points: ≈ 0 up to rounding."""
    g = torch.Generator().manual_seed(seed)
    x, t = losses.collocation_points(n, generator=g)
    x, t = x.double(), t.double()
    ds = _ds.get(dataset)
    r = losses.fp_residual(lambda xx, tt: ds.log_prob(xx, tt), x, t).detach()
    _, dt, grad, lap = losses.fp_terms(lambda xx, tt: ds.log_prob(xx, tt), x, t)
    scale = dt.abs().mean().item()
    return {"max_abs": float(r.abs().max()), "rms": float(r.pow(2).mean().sqrt()), "mean_abs_dt": scale}


def score_consistency(model, n: int = 2_000, seed: int = 0) -> float:
    """max |s_θ − ∇_x φ_θ| between the explicit backward pass and torch autograd of the potential."""
    g = torch.Generator().manual_seed(seed)
    x, t = losses.collocation_points(n, generator=g)
    explicit = model.score(x, t).detach()
    _, _, grad, _ = losses._terms_autograd(model.potential, x, t)
    return float((explicit - grad.detach()).abs().max())


def density_on_grid(dataset: str, t: float, m: int = 64, box: float = metrics.BOX) -> np.ndarray:
    """Exact p_t on the (m, m) grid linspace(-box, box, m)² (row = y index)."""
    lin = np.linspace(-box, box, m)
    gx, gy = np.meshgrid(lin, lin)
    x = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float64)
    lp = _ds.get(dataset).log_prob(x, float(t))
    return lp.exp().numpy().reshape(m, m)


# ---------------------------------------------------------------------- environment

def environment() -> dict:
    """Versions of Python and the packages the results depend on."""
    import importlib.metadata as md

    pk = {}
    for name in ("torch", "numpy", "scipy", "POT", "matplotlib", "seaborn", "pandas", "jupyter-book", "sphinx", "myst-nb", "papermill",
                 "jupytext", "sphinx-mathjax-offline", "snakemake"):
        try:
            pk[name] = md.version(name)
        except md.PackageNotFoundError:
            pk[name] = "not installed"
    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or "unknown", "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.is_available(), "packages": pk}
