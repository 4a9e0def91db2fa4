"""The solver study: is the ODE–SDE gap a discretisation artefact? (`python -m scoregap solver-study`).

For one score (the exact score of a data set, or a trained model) the probability-flow ODE is solved with
explicit Euler (order 1, the published sampler), Heun (order 2) and adaptive dopri5 (order 5, varying rtol),
and the reverse SDE with Euler–Maruyama, at increasing numbers of steps. Every result becomes a histogram on
the paper's grid and is compared by exact W2² (metrics.w2_squared) with

* `ode_sde`: the other sampler at its finest setting — for an ODE row the SDE reference (Euler–Maruyama on the
  grid with the most steps), for an SDE row the ODE reference (dopri5 at the smallest rtol);
* `ode_sde_same`: Euler–Maruyama on the same time grid (Euler and Heun rows: the paper's protocol for Euler);
* `ode_ref`: the ODE reference from the *same* x_T (ODE rows: pure discretisation error, no Monte Carlo floor);
* `truth`: exact data samples;

beside the Monte Carlo floor (W2² between two independent exact n-samples, `evaluation.floor`). Every ODE
solver starts from the same x_T; the SDE runs, the truth and the floor use independent draws.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import datasets, evaluation, experiment, metrics, samplers, sde, solvers
from .results import load_checkpoint

FIELDS = ("score", "dataset", "w_r", "solver", "order", "schedule", "steps", "nfe", "rtol", "n",
          "ode_sde", "ode_sde_same", "ode_ref", "truth", "dropped", "seconds", "floor", "floor_std")
"""Columns of the solver-study CSV (W2² columns: ode_sde, ode_sde_same, ode_ref, truth, floor)."""
STEPS = (25, 50, 100, 200, 400)
"""Default numbers of uniform steps (Euler, Euler–Maruyama)."""
HEUN_STEPS = (25, 50, 100, 200)
"""Default numbers of uniform Heun steps (2 score evaluations per step)."""
PAPER_NFE = samplers.NFE
"""The paper's grid (schedule "paper", nfe = 800: 890 steps) is added for Euler and Euler–Maruyama."""
RTOLS = (1e-2, 1e-3, 1e-4, 1e-5)
"""Default dopri5 relative tolerances (atol = rtol); the smallest gives the ODE reference."""


def load_score(spec: str, dataset: str):
    """(label, score, w_R): 'exact' → the data set's exact score; otherwise a checkpoint path (its data set must match)."""
    if spec == "exact":
        return "exact", datasets.get(dataset).score, float("nan")
    model, cfg, _ = load_checkpoint(spec)
    model.requires_grad_(False)
    if cfg.dataset != dataset:
        raise ValueError(f"checkpoint {spec} is a {cfg.dataset} model, not {dataset}")
    return cfg.name, model, float(cfg.w_r)


def w2(a: np.ndarray, b: np.ndarray) -> float:
    """Exact W2² between two grid histograms, computed on the union of their supports (the same value, faster)."""
    s = (np.asarray(a) > 0) | (np.asarray(b) > 0)
    return metrics.w2_squared(np.asarray(a)[s], np.asarray(b)[s], points=metrics.grid_points()[s])


def _grids(steps, paper_nfe) -> list[tuple[str, int]]:
    grids = [("uniform", int(k)) for k in steps]
    if paper_nfe:
        grids.append(("paper", int(paper_nfe)))
    return grids


def check_settings(n, steps, heun_steps, rtols, paper_nfe) -> None:
    """Raise ValueError for a bad sample size, step count, paper nfe or dopri5 tolerance (before any work)."""
    if isinstance(n, bool) or int(n) != n or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    for k in [*steps, *heun_steps]:
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise ValueError(f"step counts must be positive integers, got {k!r}")
    if paper_nfe and (int(paper_nfe) != paper_nfe or paper_nfe < 11):
        raise ValueError(f"paper_nfe must be 0 (skip) or an integer >= 11, got {paper_nfe!r}")
    if not steps and not paper_nfe:
        raise ValueError("give at least one Euler–Maruyama grid (steps or paper_nfe): it is the SDE reference")
    if not rtols or any(not (r > 0) for r in rtols):
        raise ValueError(f"rtols must be positive numbers (at least one: the smallest is the ODE reference), got {rtols!r}")


def run(score, dataset: str, n: int, label: str = "exact", w_r: float = float("nan"), steps=STEPS, heun_steps=HEUN_STEPS,
        paper_nfe: int = PAPER_NFE, rtols=RTOLS, seed: int = 0, floor: tuple[float, float] | None = None, floor_repeats: int = 16,
        progress: bool = True, truth: bool = True, same_grid: bool = True) -> list[dict]:
    """Rows (FIELDS) of the solver study of one score: Euler/Heun/dopri5 ODE and Euler–Maruyama SDE against steps.

    `truth=False` / `same_grid=False` leave the columns truth / ode_sde_same NaN (each W2² costs about a second:
    the CI-sized book chapter skips them); every other number is unchanged.
    """
    steps, heun_steps, rtols = sorted(set(steps)), sorted(set(heun_steps)), sorted(set(float(r) for r in rtols), reverse=True)
    check_settings(n, steps, heun_steps, rtols, paper_nfe)
    n = int(n)
    grids = _grids(steps, paper_nfe)
    ref_grid = max(grids, key=lambda g: (solvers.steps(g[1], g[0]), g[0] == "paper"))
    gen = torch.Generator().manual_seed(experiment.stable_seed(seed, label, "x_T"))
    x_T = sde.sample_prior(n, generator=gen)  # x_T ~ N(0, ½ I), shared by every ODE solver
    truth_hist = metrics.histogram(datasets.get(dataset).sample(n, seed=experiment.stable_seed(seed, dataset, "truth")))[0] if truth else None
    if floor is None:
        floor = evaluation.floor(dataset, n, repeats=floor_repeats, seed=experiment.stable_seed(seed, dataset, "floor"))
    jobs = ([("em", g) for g in grids] + [("dopri5", r) for r in rtols] + [("euler", g) for g in grids]
            + [("heun", ("uniform", int(k))) for k in heun_steps])
    bar = tqdm(jobs, desc=f"solver study {label}", disable=not progress, unit="run")
    results = {}  # (solver, key) → (hist, dropped, seconds, nfe)
    for solver, key in bar:
        bar.set_postfix_str(f"{solver} {key}")
        t0 = time.perf_counter()
        if solver == "em":
            x = solvers.em(score, n, nfe=key[1], schedule=key[0], seed=experiment.stable_seed(seed, label, "em", *key))
            nfe = solvers.steps(key[1], key[0])
        elif solver == "dopri5":
            x, nfe = solvers.dopri5(score, x_T, rtol=key)
        elif solver == "euler":
            x, nfe = solvers.euler(score, x_T, nfe=key[1], schedule=key[0]), solvers.steps(key[1], key[0])
        else:
            x, nfe = solvers.heun(score, x_T, nfe=key[1], schedule=key[0]), solvers.heun_nfe(key[1], key[0])
        seconds = time.perf_counter() - t0
        hist, dropped = metrics.histogram(x)
        results[(solver, key)] = (hist, dropped, seconds, nfe)
    bar.close()
    hists = {k: v[0] for k, v in results.items()}
    hists["truth"] = truth_hist
    memo = {}

    def dist(a, b) -> float:
        """W2² between two named histograms, each unordered pair computed once; 0 for a histogram and itself."""
        if a == b:
            return 0.0
        key = frozenset((a, b))
        if key not in memo:
            memo[key] = w2(hists[a], hists[b])
        return memo[key]

    sde_ref, ode_ref = ("em", ref_grid), ("dopri5", rtols[-1])
    nan = float("nan")
    rows = []
    for (solver, key), (hist, dropped, seconds, nfe) in results.items():
        me = (solver, key)
        grid = key if solver != "dopri5" else None
        row = {"score": label, "dataset": dataset, "w_r": float(w_r), "solver": solver, "order": solvers.ORDERS[solver],
               "schedule": grid[0] if grid else "adaptive", "steps": solvers.steps(grid[1], grid[0]) if grid else nan,
               "nfe": int(nfe), "rtol": float(key) if solver == "dopri5" else nan, "n": n,
               "truth": dist(me, "truth") if truth else nan,
               "dropped": int(dropped), "seconds": round(seconds, 2), "floor": float(floor[0]), "floor_std": float(floor[1])}
        if solver == "em":
            row.update(ode_sde=dist(ode_ref, me), ode_sde_same=nan, ode_ref=nan)
        else:
            same = ("em", grid) if grid and ("em", grid) in results and same_grid else None
            row.update(ode_sde=dist(me, sde_ref), ode_sde_same=dist(me, same) if same else nan, ode_ref=dist(me, ode_ref))
        rows.append({k: row[k] for k in FIELDS})
    order = {"euler": 0, "heun": 1, "dopri5": 2, "em": 3}
    rows.sort(key=lambda r: (order[r["solver"]], -r["rtol"] if r["solver"] == "dopri5" else r["nfe"]))
    return rows


def study(scores: list[str], dataset: str, n: int, out: Path | None = None, floor_repeats: int = 16, seed: int = 0,
          progress: bool = True, **kwargs) -> list[dict]:
    """`run` for every score spec ('exact' or a checkpoint path) with one shared Monte Carlo floor; CSV to `out` (atomic)."""
    if not scores:
        raise ValueError("give at least one score: 'exact' and/or checkpoint paths")
    check_settings(n, kwargs.get("steps", STEPS), kwargs.get("heun_steps", HEUN_STEPS), kwargs.get("rtols", RTOLS), kwargs.get("paper_nfe", PAPER_NFE))
    loaded = [load_score(s, dataset) for s in scores]  # fail fast on bad settings or a bad checkpoint before any sampling
    floor = evaluation.floor(dataset, int(n), repeats=floor_repeats, seed=experiment.stable_seed(seed, dataset, "floor"))
    rows = []
    for label, score, w_r in loaded:
        rows += run(score, dataset, n, label=label, w_r=w_r, seed=seed, floor=floor, progress=progress, **kwargs)
    if out is not None:
        experiment.write_rows(rows, FIELDS, Path(out))
    return rows


def read(path) -> list[dict]:
    """Rows of a solver-study CSV with numbers parsed (text columns kept), after checking it against its record."""
    import csv

    from .provenance import check_table

    check_table(path)
    text = {"score", "dataset", "solver", "schedule"}
    with open(path) as f:
        return [{k: (v if k in text else float(v)) for k, v in r.items()} for r in csv.DictReader(f)]
