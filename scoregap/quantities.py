"""The result numbers the book's prose quotes: each named once, with the shipped file it is computed from.

A chapter glues every quantity of its own (`values(chapter)`, MyST-NB `glue`) and its prose cites them with
``{glue:text}`name:fmt```. A quantity with a `source` is recomputed from that file when the chapter runs, and
`tests/test_glue.py` recomputes it again from the same file and compares it with the executed chapter. A quantity
without a source is measured by the chapter itself at run time (declared here so that its name is known).
`TYPED` lists, in this one place, the result-like numbers the prose may type by hand, each with its reason.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import config, datasets, metrics, provenance

ROOT = Path(__file__).resolve().parent.parent
MODELS = "cpu"
"""The preset whose shipped results the prose describes (the quick preset reuses its models)."""

W2 = f"data/results/{MODELS}/w2.csv"
SOLVER = f"data/results/{MODELS}/solver_study.csv"
PUBLISHED_W2 = "data/results/published/w2.csv"
PAPER = "data/paper_numbers.json"
RESIDUALS = "data/results/residuals.csv"
GAUSSIAN = "data/results/gaussian_bound.csv"
BENCH = "data/bench.json"
CONFIG = "scoregap/config.py"
COLUMNS = ("ode_truth", "sde_truth", "ode_sde")


@dataclass(frozen=True)
class Quantity:
    """One number of the prose: its chapter, its source file ("" when measured at run time) and how to compute it."""

    name: str
    chapter: str
    source: str
    compute: Callable[[Path], float | int | str] | None
    doc: str
    text: bool = False
    """A word or phrase measured at run time (a name, a verdict), not a number."""


def _num(v: str):
    try:
        return float(v)
    except ValueError:
        return v


def _rows(root: Path, rel: str) -> list[dict]:
    provenance.check_table(Path(root) / rel)
    with open(Path(root) / rel) as f:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)]


def read_rows(rel: str, root: Path = ROOT) -> list[dict]:
    """Rows of a shipped CSV (repository-relative path; checked against its record), numbers parsed, text kept."""
    return _rows(root, rel)


def _json(root: Path, rel: str):
    return json.loads((Path(root) / rel).read_text())


def _one(values, what: str):
    vals = sorted(set(values))
    if len(vals) != 1:
        raise ValueError(f"{what}: expected one value, found {vals}")
    return vals[0]


def _get(rows: list[dict], dataset: str, w_r: float) -> dict:
    return next(r for r in rows if r["dataset"] == dataset and float(r["w_r"]) == w_r)


def level_ratios(rows: list[dict], paper: dict | None = None) -> dict:
    """(column, data set, w_R) → our W2² / the paper's W2² ({eq}`w2-metric`) for every entry of the three tables."""
    paper = _json(ROOT, PAPER) if paper is None else paper
    w_values = [float(w) for w in paper["w_r"]]
    return {(c, r["dataset"], float(r["w_r"])): float(r[c]) / paper[c][r["dataset"]][w_values.index(float(r["w_r"]))]
            for c in COLUMNS for r in rows}


def dropped_percent(rows: list[dict]) -> dict:
    """(data set, w_R, sampler) → per cent of the samples dropped outside the box before the histogram."""
    return {(r["dataset"], float(r["w_r"]), m): 100.0 * r[f"dropped_{m}"] / r["n"] for r in rows for m in ("ode", "sde")}


def time_only_share(residual_rows: list[dict], source: str, dataset: str, w_r: float) -> float:
    """Per cent of the mean squared FP residual {eq}`residual` carried by its time-only (gauge) part."""
    r = next(r for r in residual_rows if r["source"] == source and r["dataset"] == dataset and float(r["w_r"]) == w_r)
    return 100.0 * r["time_only"] / r["total"]


def residual_correlations(residual_rows: list[dict], gap_rows: list[dict], source: str) -> dict:
    """Residual variant → Spearman rank correlation with W2²(ODE, SDE), pooled over data sets and w_R, for one source."""
    from . import evaluation

    gaps = {(r["dataset"], float(r["w_r"])): float(r["ode_sde"]) for r in gap_rows}
    rho = evaluation.residual_rank_correlations([r for r in residual_rows if r["source"] == source], gaps)
    return {k: v["pooled"] for k, v in rho.items()}


def best_residual(rho: dict) -> str:
    """The residual variant(s) with the largest rank correlation (ties joined by 'and')."""
    top = max(rho.values())
    names = [k.replace("_", "-") for k, v in rho.items() if v >= top - 1e-9]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def best_solver_runs(rows: list[dict], score: str) -> dict:
    """solver → its most accurate run for one score of the solver study (finest grid; dopri5: smallest rtol)."""
    best = {}
    for solver in ("euler", "heun", "dopri5"):
        runs = [r for r in rows if r["score"] == score and r["solver"] == solver]
        if runs:
            best[solver] = max(runs, key=lambda r: r["nfe"] if solver != "dopri5" else -r["rtol"])
    return best


def _exact_converged(root: Path) -> list[float]:
    rows = _rows(root, SOLVER)
    return [r["ode_sde"] for r in best_solver_runs(rows, "exact").values()]


def _bench_run(root: Path, threads: int) -> dict:
    return next(r for r in _json(root, BENCH)["runs"] if r["threads"] == threads)


def _bench_op(run: dict, prefix: str) -> dict:
    return next(r for r in run["rows"] if r["operation"].startswith(prefix))


BENCH_OPS = {"score": "score evaluations", "fp": "FP-residual", "step_fp": "training step ms (20000 DSM + 5000",
             "step_dsm": "training step ms (20000 DSM + 0"}


def second_core_gain(root: Path, op: str, which: str = "fast") -> float:
    """Speed with two threads / speed with one thread of one benchmark operation (data/bench.json)."""
    one, two = (_bench_op(_bench_run(root, t), BENCH_OPS[op])[which] for t in (1, 2))
    return one / two if op.startswith("step") else two / one


REGISTRY: dict[str, Quantity] = {}


def _add(name: str, chapter: str, source: str, compute, doc: str, text: bool = False) -> None:
    if name in REGISTRY:
        raise ValueError(f"quantity {name!r} defined twice")
    REGISTRY[name] = Quantity(name, chapter, source, compute, doc, text)


# --- the neural score: training schedule and budget (configuration presets) ---------------------------------
for _k in range(3):
    _add(f"lr_phase{_k + 1}_pct", "neural_score", CONFIG,
         lambda root, k=_k: 100.0 * config.make(MODELS).lr_fractions[k], f"per cent of the shipped models' steps in phase {_k + 1}")
    _add(f"paper_lr_phase{_k + 1}_pct", "neural_score", CONFIG,
         lambda root, k=_k: 100.0 * config.make("paper").lr_fractions[k], f"per cent of the paper's steps in phase {_k + 1}")


def _samples_seen(preset: str) -> int:
    c = config.make(preset)
    return c.steps * c.dsm_batch


for _c in ("neural_score", "closing_the_gap"):
    _p = "" if _c == "neural_score" else "ctg_"
    _add(f"{_p}steps_ours", _c, CONFIG, lambda root: config.make(MODELS).steps, "training steps of the shipped models")
    _add(f"{_p}batch_ours", _c, CONFIG, lambda root: config.make(MODELS).dsm_batch, "DSM batch of the shipped models")
    _add(f"{_p}steps_paper", _c, CONFIG, lambda root: config.make("paper").steps, "the paper's training steps")
    _add(f"{_p}batch_paper", _c, CONFIG, lambda root: config.make("paper").dsm_batch, "the paper's DSM batch")
    _add(f"{_p}samples_seen_pct", _c, CONFIG, lambda root: 100.0 * _samples_seen(MODELS) / _samples_seen("paper"),
         "data samples seen in training, ours as a per cent of the paper's")

# --- closing the gap: the shipped W2² table ---------------------------------------------------------------
_add("bootstrap_B", "closing_the_gap", W2, lambda root: int(_one((r["bootstrap"] for r in _rows(root, W2)), "bootstrap")),
     "bootstrap replicates per entry of the shipped table")
_add("se_uncertainty_pct", "closing_the_gap", W2,
     lambda root: 100.0 / math.sqrt(2 * (int(_one((r["bootstrap"] for r in _rows(root, W2)), "bootstrap")) - 1)),
     "relative uncertainty of a bootstrap SE from B replicates, 1/sqrt(2(B-1))")
_add("n_ours", "closing_the_gap", W2, lambda root: int(_one((r["n"] for r in _rows(root, W2)), "n")),
     "samples per sampler and model of the shipped table")
_add("n_paper", "closing_the_gap", PAPER, lambda root: int(_json(root, PAPER)["n_samples"]), "the paper's samples per sampler")
_add("floor_checker_1m_e3", "closing_the_gap", W2, lambda root: 1e3 * _get(_rows(root, W2), "checker", 0.0)["floor"],
     "checkerboard Monte Carlo floor at the shipped n, ×10³")
_add("floor_checker_1m_std_e3", "closing_the_gap", W2, lambda root: 1e3 * _get(_rows(root, W2), "checker", 0.0)["floor_std"],
     "its standard deviation, ×10³")
_add("floor_checker_20k_e3", "closing_the_gap", SOLVER, lambda root: 1e3 * _one((r["floor"] for r in _rows(root, SOLVER)), "floor"),
     "checkerboard Monte Carlo floor at the solver study's n, ×10³")
_add("floor_checker_20k_std_e3", "closing_the_gap", SOLVER,
     lambda root: 1e3 * _one((r["floor_std"] for r in _rows(root, SOLVER)), "floor_std"), "its standard deviation, ×10³")
_add("n_solver", "closing_the_gap", SOLVER, lambda root: int(_one((r["n"] for r in _rows(root, SOLVER)), "n")),
     "samples per run of the shipped solver study")
_add("paper_min_over_floor", "closing_the_gap", W2,
     lambda root: min(v / _get(_rows(root, W2), d, 0.0)["floor"] for c in COLUMNS for d, vals in _json(root, PAPER)[c].items() for v in vals),
     "the paper's smallest entry / our Monte Carlo floor of the same data set at our n")


def _ratios(root: Path) -> dict:
    return level_ratios(_rows(root, W2), _json(root, PAPER))


_add("ratio_gap_w0_min", "closing_the_gap", W2, lambda root: min(v for (c, d, w), v in _ratios(root).items() if c == "ode_sde" and w == 0),
     "smallest ours/paper ratio of W2²(ODE, SDE) at w_R = 0")
_add("ratio_gap_w0_max", "closing_the_gap", W2, lambda root: max(v for (c, d, w), v in _ratios(root).items() if c == "ode_sde" and w == 0),
     "largest ours/paper ratio of W2²(ODE, SDE) at w_R = 0")
_add("ratio_sde_w10_max", "closing_the_gap", W2, lambda root: max(v for (c, d, w), v in _ratios(root).items() if c == "sde_truth" and w == 10),
     "largest ours/paper ratio of W2²(SDE, truth) at w_R = 10")
_add("ratio_min", "closing_the_gap", W2, lambda root: min(_ratios(root).values()), "smallest ours/paper ratio over all entries")
_add("ratio_max", "closing_the_gap", W2, lambda root: max(_ratios(root).values()), "largest ours/paper ratio over all entries")
for _src, _file in (("", W2), ("pub_", PUBLISHED_W2)):
    for _w, _wn in ((10.0, "w10"), (0.0, "w0")):
        _add(f"{_src}dropped_{_wn}_min_pct", "closing_the_gap", _file,
             lambda root, f=_file, w=_w: min(v for (d, ww, m), v in dropped_percent(_rows(root, f)).items() if ww == w),
             f"smallest per cent dropped at w_R = {_w:g} ({_file})")
        _add(f"{_src}dropped_{_wn}_max_pct", "closing_the_gap", _file,
             lambda root, f=_file, w=_w: max(v for (d, ww, m), v in dropped_percent(_rows(root, f)).items() if ww == w),
             f"largest per cent dropped at w_R = {_w:g} ({_file})")
_add("sliced_w10_min", "closing_the_gap", W2,
     lambda root: min(float(r[f"sliced_{c}"]) for r in _rows(root, W2) if r["w_r"] == 10 for c in ("ode_truth", "sde_truth")),
     "smallest sliced W2² to the truth at w_R = 10 (raw samples, nothing dropped)")
_add("sliced_w0_sde_max", "closing_the_gap", W2,
     lambda root: max(float(r["sliced_sde_truth"]) for r in _rows(root, W2) if r["w_r"] == 0),
     "largest sliced W2²(SDE, truth) at w_R = 0")

# --- the FP residual and the bound: the gauge split, the Gaussian test, the computed bound ------------------
for _src in ("ours", "published"):
    for _d in datasets.PAPER_NAMES:
        _add(f"gauge_w0_{_src}_{_d}_pct", "fp_residual_bound", RESIDUALS,
             lambda root, s=_src, d=_d: time_only_share(_rows(root, RESIDUALS), s, d, 0.0),
             f"time-only share of the w_R = 0 residual, {_src}, {_d}")
    _add(f"gauge_w10_{_src}_max_pct", "fp_residual_bound", RESIDUALS,
         lambda root, s=_src: max(time_only_share(_rows(root, RESIDUALS), s, d, 10.0) for d in datasets.PAPER_NAMES),
         f"largest time-only share at w_R = 10, {_src}")
    _gap_file = W2 if _src == "ours" else PUBLISHED_W2
    for _k in ("total", "time_only", "centred", "score_form"):
        _add(f"rho_{_src}_{_k}", "fp_residual_bound", RESIDUALS,
             lambda root, s=_src, g=_gap_file, k=_k: residual_correlations(_rows(root, RESIDUALS), _rows(root, g), s)[k],
             f"pooled Spearman correlation of the {_k} residual with the ODE–SDE gap, {_src}")
    _add(f"rho_{_src}_best", "fp_residual_bound", RESIDUALS,
         lambda root, s=_src, g=_gap_file: best_residual(residual_correlations(_rows(root, RESIDUALS), _rows(root, g), s)),
         f"the residual variant that ranks the ODE–SDE gap best, {_src}")


def _gauss(root: Path, rotation: bool) -> list[float]:
    return [float(r["ratio"]) for r in _rows(root, GAUSSIAN) if str(r["member"]).startswith("rotation") == rotation]


_add("box_w2_max", "fp_residual_bound", "scoregap/metrics.py", lambda root: 2.0 * math.sqrt(2.0) * metrics.BOX,
     "the largest W2 possible between two laws on the box: its diagonal")
_add("gauss_members", "fp_residual_bound", GAUSSIAN, lambda root: len(_rows(root, GAUSSIAN)), "members of the Gaussian family")
_add("gauss_ratio_min", "fp_residual_bound", GAUSSIAN, lambda root: min(_gauss(root, False)), "smallest bound/gap, rotations excluded")
_add("gauss_ratio_max", "fp_residual_bound", GAUSSIAN, lambda root: max(_gauss(root, False)), "largest bound/gap, rotations excluded")
_add("gauss_rot_min", "fp_residual_bound", GAUSSIAN, lambda root: min(_gauss(root, True)), "smallest bound/gap of the rotations")
_add("gauss_rot_max", "fp_residual_bound", GAUSSIAN, lambda root: max(_gauss(root, True)), "largest bound/gap of the rotations")
for _name, _doc in (("bound_min", "smallest computed bound 𝓑 over the models"), ("bound_max", "largest computed bound 𝓑"),
                    ("measured_w2_max", "largest measured W2(ODE, SDE)"),
                    ("log10_A_min", "smallest log10 of the Grönwall factor A"), ("log10_A_max", "largest log10 of A"),
                    ("lambda_T_max", "largest Λ(T)"), ("log10_residual_factor_max", "largest log10 of the residual factor"),
                    ("lipschitz_m", "side of the grid of the supremum in (A2)"),
                    ("bound_local_min", "smallest localised bound"), ("bound_local_max", "largest localised bound"),
                    ("a5_violations", "models whose SDE density at t = 0 has a larger L² norm than the data's (A5 fails)"),
                    ("a5_ratio_max", "largest ‖q_0‖ / ‖p_0‖ over the models")):
    _add(_name, "fp_residual_bound", "", None, _doc + " (measured when the chapter runs)")

# --- the solver study --------------------------------------------------------------------------------------
_add("exact_converged_over_floor_min", "solver_study", SOLVER,
     lambda root: min(_exact_converged(root)) / _one((r["floor"] for r in _rows(root, SOLVER)), "floor"),
     "exact score: smallest converged ODE–SDE gap / floor")
_add("exact_converged_over_floor_max", "solver_study", SOLVER,
     lambda root: max(_exact_converged(root)) / _one((r["floor"] for r in _rows(root, SOLVER)), "floor"),
     "exact score: largest converged ODE–SDE gap / floor")
_add("exact_converged_sd_max", "solver_study", SOLVER,
     lambda root: max((g - _rows(root, SOLVER)[0]["floor"]) / _rows(root, SOLVER)[0]["floor_std"] for g in _exact_converged(root)),
     "exact score: largest (converged gap − floor) in floor standard deviations")

# --- the published networks --------------------------------------------------------------------------------
_add("pub_floor_min_e3", "published_networks", PUBLISHED_W2, lambda root: 1e3 * min(r["floor"] for r in _rows(root, PUBLISHED_W2)),
     "smallest Monte Carlo floor of the published evaluation, ×10³")
_add("pub_floor_max_e3", "published_networks", PUBLISHED_W2, lambda root: 1e3 * max(r["floor"] for r in _rows(root, PUBLISHED_W2)),
     "largest Monte Carlo floor of the published evaluation, ×10³")
_add("pub_n", "published_networks", PUBLISHED_W2, lambda root: int(_one((r["n"] for r in _rows(root, PUBLISHED_W2)), "n")),
     "samples per sampler of our samples of the published networks")

# --- the appendix: the shipped benchmark ----------------------------------------------------------------------
for _op in BENCH_OPS:
    _add(f"core2_{_op}", "appendix", BENCH, lambda root, o=_op: second_core_gain(root, o), f"second-core gain of the fast {_op}")
    _add(f"core2_naive_{_op}", "appendix", BENCH, lambda root, o=_op: second_core_gain(root, o, "naive"),
         f"second-core gain of the naive {_op}")
    for _t in (1, 2):
        _add(f"bench_ratio_{_op}_{_t}t", "appendix", BENCH, lambda root, o=_op, t=_t: _bench_op(_bench_run(root, t), BENCH_OPS[o])["ratio"],
             f"fast / naive, {_op}, {_t} thread(s)")
_add("core2_sgemm", "appendix", BENCH,
     lambda root: _bench_run(root, 2)["matmul_limit_evals_per_s"] / _bench_run(root, 1)["matmul_limit_evals_per_s"],
     "second-core gain of a bare sgemm of the hidden layers' shape")
_add("bench_score_of_mm_1t_pct", "appendix", BENCH,
     lambda root: 100.0 * _bench_op(_bench_run(root, 1), BENCH_OPS["score"])["of_matmul_limit"], "score: per cent of the matmul limit, 1 thread")

# --- the exact dynamics (measured when the chapter runs) -----------------------------------------------------
for _name, _doc in (("grid_vs_floor_min", "smallest W2²(grid density, one sample) / floor"),
                    ("grid_vs_floor_max", "largest W2²(grid density, one sample) / floor")):
    _add(_name, "true_dynamics", "", None, _doc + " (measured when the chapter runs)")


def bound_summary(pieces: dict, measured_w2, lipschitz_m: int) -> dict:
    """The run-time quantities of the bound {eq}`w2-bound` the prose quotes, from `bound.w2_bound` of every model."""
    bounds = [p["bound"] for p in pieces.values()]
    log_a = [math.log10(p["A"]) for p in pieces.values()]
    inner = [math.log10(p["bound"] / math.sqrt(p["A"])) for p in pieces.values() if p["bound"] > 0]  # the factor ½(2D_T + …)^½
    local = [p["bound_local"] for p in pieces.values()]
    return {"bound_min": float(min(bounds)), "bound_max": float(max(bounds)),
            "bound_local_min": float(min(local)), "bound_local_max": float(max(local)),
            "measured_w2_max": float(max(float(v) for v in list(_flat(measured_w2)))),
            "log10_A_min": float(min(log_a)), "log10_A_max": float(max(log_a)),
            "lambda_T_max": float(max(float(p["Lambda"][-1]) for p in pieces.values())),
            "log10_residual_factor_max": float(max(inner)), "lipschitz_m": int(lipschitz_m)}


def _flat(a):
    for v in (a.ravel() if hasattr(a, "ravel") else a):
        yield v


def compute(name: str, root: Path = ROOT):
    """The value of one file-backed quantity, recomputed from its source."""
    q = REGISTRY[name]
    if q.compute is None:
        raise ValueError(f"quantity {name!r} is measured when its chapter runs; it has no source file")
    v = q.compute(Path(root))
    return v if isinstance(v, str) else (int(v) if isinstance(v, int) else float(v))


def values(chapter: str, root: Path = ROOT) -> dict:
    """name → value of every file-backed quantity of one chapter (what the chapter glues)."""
    return {n: compute(n, root) for n, q in REGISTRY.items() if q.chapter == chapter and q.compute is not None}


TYPED: dict[tuple[str, str], str] = {
    # (chapter, number exactly as typed) → why it is a constant of the setting, not a result
    ("closing_the_gap", "3 × 10⁶"): "the paper's sample size",
    ("closing_the_gap", "95 %"): "the level of the bootstrap intervals (evaluation.CI_LEVEL)",
    ("closing_the_gap", "5 %"): "the level of the test that disjoint 95 % intervals are compared with",
    ("closing_the_gap", "99.5"): "the percentile at which the density colour scales saturate (plots.ROBUST_PERCENTILE)",
    ("closing_the_gap", "10 000"): "the size of the raw subsample kept beside each histogram for the sliced W2²",
    ("closing_the_gap", "20 000"): "the collocation points of the FP residual (evaluation.RESIDUAL_POINTS)",
    ("published_networks", "3 × 10⁶"): "the paper's sample size",
    ("published_networks", "95 %"): "the level of the bootstrap intervals (evaluation.CI_LEVEL)",
    ("diagnose", "95 %"): "the level of the bootstrap intervals (evaluation.CI_LEVEL)",
    ("particle_dynamics", "99.5"): "the percentile at which the density colour scales saturate (plots.ROBUST_PERCENTILE)",
    ("particle_dynamics", "1 %"): "the linear range of the symmetric-log colour scale",
    ("true_dynamics", "99.5"): "the percentile at which the density colour scales saturate (plots.ROBUST_PERCENTILE)",
    ("true_dynamics", "0.65"): "the scale of the mixture's centres (a constant of the data set)",
    ("true_dynamics", "3.5"): "the half-width of the paper's box (metrics.BOX)",
    ("fp_residual_bound", "99 %"): "the mass of the data region of assumption (A2′)",
    ("fp_residual_bound", "2 000"): "the collocation points of the exact-residual check (a setting)",
}
"""The result-like numbers the prose may type by hand, each with its reason (the one list of exceptions)."""

# --- how robust are the claims: the seed study's settings (scoregap.seeds) -----------------------------------
SEEDS_PY = "scoregap/seeds.py"


def _study():
    from . import seeds

    return seeds.SeedStudy()


_add("rob_n_samples", "robustness", SEEDS_PY, lambda root: _study().n_samples, "samples per sampler of every seed's row")
_add("rob_curve_samples", "robustness", SEEDS_PY, lambda root: _study().curve_samples, "samples per sampler of each snapshot")
_add("rob_snapshots", "robustness", SEEDS_PY, lambda root: _study().snapshots, "snapshots along training of the snapshot runs")
_add("rob_n_seeds", "robustness", SEEDS_PY, lambda root: len(_study().all_seeds), "training seeds of the seed table, seed 0 included")
_add("rob_n_models", "robustness", SEEDS_PY, lambda root: len(_study().models()), "models the seed study trains (seeds >= 1)")
_add("rob_n_snapshot_files", "robustness", SEEDS_PY, lambda root: len(_study().snapshot_models()) * _study().snapshots,
     "snapshot files the study evaluates")
_add("rob_samples_seen_ours", "robustness", CONFIG, lambda root: _samples_seen(MODELS), "training samples seen by our models")
_add("rob_samples_seen_paper", "robustness", CONFIG, lambda root: _samples_seen("paper"), "training samples seen by the paper's")
_add("rob_budget_pct", "robustness", CONFIG, lambda root: 100.0 * _samples_seen(MODELS) / _samples_seen("paper"),
     "our training budget as a per cent of the paper's")
_add("rob_n_trained", "robustness", "", None, "models of the study trained so far (counted when the chapter runs)")
_add("rob_n_snapshots_done", "robustness", "", None, "snapshot files saved so far (counted when the chapter runs)")

# the chapter "Diagnose your own model": everything is measured live except the two reference gaps of the checkerboard
for _n, _doc in (("train_steps", "training steps per model"), ("sde_name", "forward SDE of the trained models"),
                 ("w_fp", "weight of the FP regulariser"), ("n_samples", "samples per diagnosis"), ("nfe", "sampler steps"),
                 ("plain_gap", "ODE–SDE W2² of the plain score MLP"), ("plain_floor", "Monte Carlo floor of its diagnosis"),
                 ("plain_curl", "its mean squared curl over its mean squared jacobian"),
                 ("pot0_gap", "ODE–SDE W2² of the potential network, w_R = 0"), ("potw_gap", "the same with the FP regulariser"),
                 ("pot0_res", "mean squared FP residual, w_R = 0"), ("potw_res", "the same with the FP regulariser"),
                 ("pot0_time_share", "time-only share (%) of the residual, w_R = 0"),
                 ("checker_source", "which checkerboard network is diagnosed live"), ("checker_gap", "its ODE–SDE W2²"),
                 ("checker_low", "its interval's lower end"), ("checker_high", "its interval's upper end"),
                 ("checker_floor", "the floor of that diagnosis"), ("checker_n", "its samples per sampler"),
                 ("checker_ref", "the shipped table's ODE–SDE W2² of the same network"), ("checker_ref_n", "that table's n"),
                 ("checker_agrees", "whether the live diagnosis agrees with the table")):
    _add(_n, "diagnose", "", None, f"{_doc} (measured when the chapter runs)",
         text=_n in ("sde_name", "checker_source", "checker_agrees"))
_add("published_gap", "diagnose", PUBLISHED_W2,
     lambda root: next(float(r["ode_sde"]) for r in _rows(root, PUBLISHED_W2) if r["dataset"] == "checker" and float(r["w_r"]) == 0.0),
     "ODE–SDE W2² of the authors' checkerboard network, w_R = 0, in our evaluation at 10⁶ samples")
_add("paper_gap", "diagnose", PAPER,
     lambda root: float(json.loads((Path(root) / PAPER).read_text())["ode_sde"]["checker"][0]),
     "the paper's ODE–SDE W2² of its checkerboard network, w_R = 0")
