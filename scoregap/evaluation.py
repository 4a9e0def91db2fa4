"""Everything a W2² table needs: result-file names, the row, the Monte Carlo floor, the bootstrap columns, the claims
C1–C3 and the paper's numbers (read from data/paper_numbers.json only). The CLI, the workflow and the book call these.

The metric of every entry is {eq}`w2-metric` (metrics.histogram, then metrics.w2_squared); the floor is
{eq}`mc-floor`.
"""
from __future__ import annotations

import csv
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import datasets, losses, metrics, provenance
from .config import W_R_VALUES, model_name
from .experiment import read_result, stable_seed, write_rows
from .results import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
PAPER_NUMBERS = ROOT / "data" / "paper_numbers.json"
"""The paper's published W2² table and FP residuals: the only place the book and the code read them from."""

# ---------------------------------------------------------------------------------------------- result files

TABLE_FILE = "w2.csv"
"""File name of a long-form W2² table (data/results/<preset>/w2.csv)."""
COMPARISON_SUFFIX = ".comparison.json"
"""Suffix replacing `.csv` for the comparison with the authors' histograms (w2.comparison.json)."""


def sample_file_name(dataset: str, w_r: float, method: str) -> str:
    """<dataset>_w<w_R>_<method>.npz: the ODE or SDE samples of one model."""
    return f"{model_name(dataset, w_r)}_{method}.npz"


def truth_file_name(dataset: str) -> str:
    """truth_<dataset>.npz: the histogram of exact data samples."""
    return f"truth_{dataset}.npz"


def published_hist_file(root, kind: str, dataset: str, w_r: float | None = None) -> Path:
    """A histogram of the authors' release (precomputed_dists/weights_{ode,sde,truth}_64_3000000_….npy)."""
    base = Path(root) / "precomputed_dists"
    if kind == "truth":
        return base / f"weights_truth_64_3000000_{dataset}.npy"
    return base / f"weights_{kind}_64_3000000_100000_800_{dataset}_{float(w_r)}.npy"


def published_weights_file(root, dataset: str, w_r: float) -> Path:
    """The weights of one of the authors' networks in their release: weights/<dataset>_w<w_R>.npz (our model names)."""
    return Path(root) / "weights" / f"{model_name(dataset, w_r)}.npz"


def published_hist(root, kind: str, dataset: str, w_r: float | None = None) -> np.ndarray:
    """A published histogram (published_hist_file), flattened and normalised; FileNotFoundError when it is missing."""
    p = published_hist_file(root, kind, dataset, w_r)
    if not p.is_file():
        raise FileNotFoundError(f"published histogram {p} is missing")
    h = np.asarray(np.load(p), dtype=np.float64).ravel()
    return h / h.sum()


# ---------------------------------------------------------------------------------------------- table columns

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
RESIDUAL_POINTS = 20_000
"""Uniform collocation points of the FP residual column (seed 0), as for the paper's published residuals."""
FLOOR_REPEATS = 4
FLOOR_SEED = 10_000
"""Pairs of exact samples and first seed of the floor stored in a table (`python -m scoregap evaluate`)."""


# ---------------------------------------------------------------------------------------------- floor and row

def floor(dataset: str, n: int, repeats: int = FLOOR_REPEATS, seed: int = FLOOR_SEED) -> tuple[float, float]:
    """Monte Carlo floor {eq}`mc-floor` of a data set at n: mean and std of W2² between histograms of two independent
    exact n-samples (metrics.noise_floor, seeds seed, seed + 1, …)."""
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


def plugin_columns(ode, sde, truth) -> dict:
    """The plug-in columns of a row from its three results ((hist, subsample, info) or file paths): W2² {eq}`w2-metric`,
    sliced W2² on the subsamples, n and the dropped counts."""
    (ho, so, io_), (hs, ss, is_), (ht, st, _) = (r if isinstance(r, tuple) else read_result(r) for r in (ode, sde, truth))
    return {"ode_truth": metrics.w2_squared(ho, ht), "sde_truth": metrics.w2_squared(hs, ht), "ode_sde": metrics.w2_squared(ho, hs),
            "sliced_ode_truth": metrics.sliced_w2(so, st), "sliced_sde_truth": metrics.sliced_w2(ss, st),
            "sliced_ode_sde": metrics.sliced_w2(so, ss), "n": io_["n"], "dropped_ode": io_["dropped"], "dropped_sde": is_["dropped"]}


def evaluate_row(dataset: str, w_r: float, ode_file, sde_file, truth_file, checkpoint=None, model=None, bootstrap: int = 0,
                 bootstrap_seed: int = 0, workers: int = 1) -> dict:
    """One table row: W2² ODE–truth, SDE–truth, ODE–SDE (+ sliced W2² on the subsamples, dropped counts), the FP residual
    {eq}`residual` of the model (from `checkpoint`, with its final DSM loss, or `model`); with bootstrap = B > 0 also a
    95 % interval, standard error and bias-corrected value per W2² from B replicates (w2_uncertainty, `workers` threads).
    The floor columns are NaN here (`add_floors` fills them)."""
    if isinstance(bootstrap, bool) or not isinstance(bootstrap, int) or bootstrap < 0 or bootstrap == 1:
        raise ValueError(f"bootstrap must be 0 (no intervals) or an integer >= 2 (replicates), got {bootstrap!r}")
    (ho, so, io_), (hs, ss, is_), (ht, st, it) = res = tuple(read_result(f) for f in (ode_file, sde_file, truth_file))
    row = {"dataset": dataset, "w_r": float(w_r), **plugin_columns(*res), "fp_residual": float("nan"),
           "final_dsm": float("nan"), "floor": float("nan"), "floor_std": float("nan")}
    if checkpoint is not None:
        model, _, summary = load_checkpoint(checkpoint)
        row["final_dsm"] = summary.get("final_dsm", float("nan"))
    if model is not None:
        row["fp_residual"] = losses.mean_squared_residual(model, n=RESIDUAL_POINTS, seed=0)
    row.update(w2_uncertainty({"ode_truth": ((ho, io_), (ht, it)), "sde_truth": ((hs, is_), (ht, it)), "ode_sde": ((ho, io_), (hs, is_))},
                              bootstrap, bootstrap_seed, dataset, w_r, workers=workers))
    return row


def add_floors(rows: list[dict], repeats: int = FLOOR_REPEATS) -> None:
    """Fill the floor columns of `rows` in place: the floor of each data set at its rows' sample size."""
    for d in dict.fromkeys(r["dataset"] for r in rows):
        n = next(int(r["n"]) for r in rows if r["dataset"] == d)
        mean, sd = floor(d, n, repeats=repeats)
        for r in rows:
            if r["dataset"] == d:
                r["floor"], r["floor_std"] = mean, sd


def table_floors(rows: list[dict]) -> dict:
    """{dataset: (mean, std)} of the floor columns stored in a table's rows (data sets without them are left out)."""
    out = {}
    for r in rows:
        if r["dataset"] not in out and _finite(r.get("floor")):
            out[r["dataset"]] = (float(r["floor"]), float(r.get("floor_std", float("nan"))))
    return out


def sample_size(rows: list[dict]) -> int:
    """The one number of samples per sampler behind table rows (ValueError when they mix sizes)."""
    ns = {int(r["n"]) for r in rows}
    if len(ns) != 1:
        raise ValueError(f"table rows mix sample sizes {sorted(ns)}")
    return ns.pop()


# ---------------------------------------------------------------------------------------------- table I/O

def write_table(rows: list[dict], out: Path) -> None:
    """Long-form CSV of evaluate rows (atomic, checksummed)."""
    write_rows(rows, TABLE_FIELDS, out)


def read_table(path) -> list[dict]:
    """Rows of a long-form CSV with numbers parsed, after checking it against its record (provenance.check_table)."""
    provenance.check_table(path)
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({k: (v if k == "dataset" else float(v)) for k, v in r.items()})
    return rows


def pivot(rows: list[dict], column: str, w_values=W_R_VALUES, names=datasets.PAPER_NAMES) -> np.ndarray:
    """(data set × w_R) array of one column of table rows (NaN where a row is missing)."""
    out = np.full((len(names), len(w_values)), np.nan)
    for r in rows:
        if r["dataset"] in names and float(r["w_r"]) in w_values:
            out[list(names).index(r["dataset"]), list(w_values).index(float(r["w_r"]))] = float(r[column])
    return out


def _finite(v) -> bool:
    try:
        return bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def has_intervals(row: dict, col: str = "ode_truth") -> bool:
    """Whether a table row carries the bootstrap interval of `col` (tables written with evaluate --bootstrap B)."""
    return _finite(row.get(f"{col}_ci_low")) and _finite(row.get(f"{col}_ci_high"))


# ---------------------------------------------------------------------------------------------- the paper's numbers

@lru_cache(maxsize=2)
def _paper_json(path: str) -> dict:
    return json.loads(Path(path).read_text())


def paper_numbers(path=PAPER_NUMBERS) -> dict:
    """The published W2² table and FP residuals (data/paper_numbers.json) as (data set × w_R) arrays, with n and the order."""
    d = _paper_json(str(path))
    out = {"source": d["source"], "n": int(d["n_samples"]), "datasets": list(d["datasets"]), "w_r": [float(w) for w in d["w_r"]]}
    for col in (*W2_COLUMNS, "fp_residual"):
        out[col] = np.array([d[col][name] for name in d["datasets"]], dtype=float)
    return out


def paper_samples(path=PAPER_NUMBERS) -> int:
    """Samples per sampler behind the paper's W2² tables (3 × 10⁶)."""
    return paper_numbers(path)["n"]


def paper_array(column: str, names=datasets.PAPER_NAMES, w_values=W_R_VALUES, path=PAPER_NUMBERS) -> np.ndarray:
    """One column of the paper's numbers as a (names × w_values) array (NaN where the paper has no entry)."""
    p = paper_numbers(path)
    out = np.full((len(names), len(w_values)), np.nan)
    for i, n in enumerate(names):
        for j, w in enumerate(w_values):
            if n in p["datasets"] and float(w) in p["w_r"]:
                out[i, j] = p[column][p["datasets"].index(n), p["w_r"].index(float(w))]
    return out


def paper_rows(path=PAPER_NUMBERS) -> list[dict]:
    """The paper's numbers as table rows (dataset, w_r, the three W2², fp_residual, n; no intervals, no floor)."""
    p = paper_numbers(path)
    return [{"dataset": d, "w_r": w, "n": p["n"], **{c: float(p[c][i, j]) for c in (*W2_COLUMNS, "fp_residual")}}
            for i, d in enumerate(p["datasets"]) for j, w in enumerate(p["w_r"])]


# ---------------------------------------------------------------------------------------------- claims C1–C3

CLAIM_FACTOR = 3.0
"""C1's factor: the ODE–SDE gap at w_R = 0 is at least this many times the gap at the largest w_R."""


def claims(rows: list[dict], factor: float = CLAIM_FACTOR) -> list[dict]:
    """The paper's claims C1–C3 per data set of `rows` that has w_R = 0 and a larger w_R (the one definition).

    With w_hi the largest w_R of the data set's rows (10 on the paper's grid):
    C1: ODE–SDE(0) ≥ factor × ODE–SDE(w_hi); C2: ODE–truth(0) > SDE–truth(0); C3: SDE–truth(w_hi) > SDE–truth(0).
    'holds' compares the plug-in estimates. 'resolved' asks the same of the 95 % bootstrap intervals: the lower end of
    the left side against the upper end of the right side (C1: lower end at 0 ≥ factor × upper end at w_hi) — disjoint
    intervals in the claimed order, a conservative test; None when the rows carry no intervals (the paper's numbers).
    'floor' is the Monte Carlo floor stored with the w_R = 0 row (NaN without one), reported beside, not used.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor >= 1:
        raise ValueError(f"invalid factor={factor!r}: a number >= 1 (C1: gap at w_R = 0 ≥ factor × gap at the largest w_R)")
    by = {(r["dataset"], float(r["w_r"])): r for r in rows}
    out = []
    for d in dict.fromkeys(r["dataset"] for r in rows):
        ws = sorted(w for (dd, w) in by if dd == d)
        if 0.0 not in ws or ws[-1] <= 0.0:
            continue
        w_hi = ws[-1]
        r0, rh = by[(d, 0.0)], by[(d, w_hi)]
        checks = (("C1", f"ODE–SDE at w_R = 0 ≥ {factor:g} × ODE–SDE at w_R = {w_hi:g}", (r0, "ode_sde"), (rh, "ode_sde"), float(factor)),
                  ("C2", "at w_R = 0: ODE–truth > SDE–truth", (r0, "ode_truth"), (r0, "sde_truth"), 1.0),
                  ("C3", f"SDE–truth at w_R = {w_hi:g} > SDE–truth at w_R = 0", (rh, "sde_truth"), (r0, "sde_truth"), 1.0))
        for cid, text, (ra, ca), (rb, cb), f in checks:
            a, b = float(ra[ca]), float(rb[cb])
            iv = has_intervals(ra, ca) and has_intervals(rb, cb)
            lo_a = float(ra[f"{ca}_ci_low"]) if iv else None
            hi_b = float(rb[f"{cb}_ci_high"]) if iv else None
            beats = (lambda x, y: x >= f * y) if cid == "C1" else (lambda x, y: x > y)
            out.append({"claim": cid, "dataset": d, "w_hi": w_hi, "statement": text, "lhs": a, "rhs": b, "factor": f,
                        "lhs_ci": (lo_a, float(ra[f"{ca}_ci_high"])) if iv else None,
                        "rhs_ci": (float(rb[f"{cb}_ci_low"]), hi_b) if iv else None,
                        "holds": bool(beats(a, b)), "resolved": bool(beats(lo_a, hi_b)) if iv else None,
                        "floor": float(r0.get("floor", float("nan")))})
    return out


# ---------------------------------------------------------------------------------------------- the authors' networks

def compare_published(rows: list[dict], root: Path, samples_dir: Path) -> dict:
    """Our W2² of the authors' networks beside the paper's, and W2² between our and their histogram of each network."""
    out = {"entries": []}
    for r in rows:
        d, w = r["dataset"], float(r["w_r"])
        entry = {"dataset": d, "w_r": w, "n": r["n"]}
        for col in W2_COLUMNS:
            p = float(paper_array(col, [d], [w])[0, 0])
            entry[col] = r[col]
            entry[f"paper_{col}"] = p
            entry[f"rel_diff_{col}"] = (r[col] - p) / p
        for kind in ("ode", "sde"):
            p = published_hist_file(root, kind, d, w)
            if p.is_file():
                ours, _, _ = read_result(Path(samples_dir) / sample_file_name(d, w, kind))
                entry[f"w2_ours_vs_published_{kind}"] = metrics.w2_squared(ours, np.load(p))
        out["entries"].append(entry)
    return out


def agreement_with_paper(rows: list[dict], cmp: dict, sigmas: float = 3.0) -> list[dict]:
    """Per (data set, w_R, distance): does our W2² of a published network agree with the paper's within Monte Carlo noise?

    Tolerance = sigmas · se · sqrt(1 + n / N_paper) + floor: `se` is our bootstrap standard error at n samples, the
    paper's value (same estimator, N_paper = paper_samples() samples) carries n / N_paper of our variance, and the floor
    (W2² between two exact samples of our size) bounds the difference between the two plug-in estimates' upward biases.
    Also: W2² between our histogram and the authors' of the same network and sampler, against floor + sigmas · floor_std
    (same distribution, so at most the floor).
    """
    table = {(r["dataset"], float(r["w_r"])): r for r in rows}
    n_paper = paper_samples()
    out = []
    for e in cmp["entries"]:
        r = table[(e["dataset"], float(e["w_r"]))]
        if not has_intervals(r):
            raise ValueError(f"{e['dataset']} w_R={e['w_r']}: the W2² table has no bootstrap standard errors (evaluate --bootstrap B)")
        for col in W2_COLUMNS:
            tol = sigmas * r[f"{col}_se"] * (1 + r["n"] / n_paper) ** 0.5 + r["floor"]
            diff = r[col] - e[f"paper_{col}"]
            out.append({"dataset": e["dataset"], "w_r": float(e["w_r"]), "distance": col, "n": int(r["n"]), "ours": r[col],
                        "paper": e[f"paper_{col}"], "diff": diff, "tolerance": tol, "agrees": abs(diff) <= tol})
        for m in ("ode", "sde"):
            key = f"w2_ours_vs_published_{m}"
            if key in e:
                tol = r["floor"] + sigmas * r["floor_std"]
                out.append({"dataset": e["dataset"], "w_r": float(e["w_r"]), "distance": f"ours_vs_published_{m}", "n": int(r["n"]),
                            "ours": e[key], "paper": 0.0, "diff": e[key], "tolerance": tol, "agrees": e[key] <= tol})
    return out


RESIDUAL_KINDS = ("total", "time_only", "centred", "score_form")


def residual_rank_correlations(residual_rows: list[dict], gaps: dict) -> dict:
    """Spearman rank correlation between each residual variant and the ODE–SDE W2² gap, per data set and pooled.

    `gaps` maps (dataset, w_r) → W2²(ODE, SDE); rows without a gap are ignored.
    """
    from scipy.stats import spearmanr

    rows = [r for r in residual_rows if (r["dataset"], float(r["w_r"])) in gaps]
    out = {}
    for kind in RESIDUAL_KINDS:
        res = {}
        for d in sorted({r["dataset"] for r in rows}) + ["pooled"]:
            sel = [r for r in rows if d == "pooled" or r["dataset"] == d]
            x = [float(r[kind]) for r in sel]
            y = [gaps[(r["dataset"], float(r["w_r"]))] for r in sel]
            res[d] = float(spearmanr(x, y).statistic) if len(sel) > 2 else float("nan")
        out[kind] = res
    return out


# ---------------------------------------------------------------------------------------------- log text

def log_text(rows: list[dict], cmp: dict | None = None) -> str:
    """Plain-text account of an evaluation for the command line and evaluate.log: every entry × 10³ with its interval,
    floor and the paper's value; the claims; with `cmp`, the comparison with the authors' histograms."""
    def cell(v, ci):
        return f"{v * 1e3:.3g}" + (f" [{ci[0] * 1e3:.3g}, {ci[1] * 1e3:.3g}]" if ci else "")

    lines = []
    for col in W2_COLUMNS:
        lines.append(f"\nW2² {col} × 10³   (plug-in estimate [95 % bootstrap interval] | bias-corrected | MC floor at n | paper)")
        for r in rows:
            d, w = r["dataset"], float(r["w_r"])
            ci = (r[f"{col}_ci_low"], r[f"{col}_ci_high"]) if has_intervals(r, col) else None
            p = paper_array(col, [d], [w])[0, 0]
            lines.append(f"{d:<10}w_R={w:<5g}{cell(float(r[col]), ci):>26} | {float(r.get(f'{col}_debiased', np.nan)) * 1e3:>7.3g} | "
                         f"{float(r.get('floor', np.nan)) * 1e3:>6.3g} | {p * 1e3:>7.3g}  (n = {int(r['n']):,})")
    lines.append("\nclaims (× 10³; 'resolved': the 95 % intervals are disjoint in the claimed order)")
    for c in claims(rows):
        rhs = (f"{c['factor']:g} × " if c["factor"] != 1 else "") + cell(c["rhs"], c["rhs_ci"])
        res = "" if c["resolved"] is None else ("  resolved" if c["resolved"] else "  intervals overlap")
        lines.append(f"{c['claim']} {c['dataset']:<10} {cell(c['lhs'], c['lhs_ci'])} vs {rhs}: {'holds' if c['holds'] else 'fails'}{res}")
    if cmp is not None:
        lines.append(f"\n{'model':<16}{'n':>9}  {'ODE–SDE ours':>13}{'paper':>9}{'rel':>7}  {'W2²(our ODE, their ODE)':>24}{'(SDE)':>9}")
        for e in cmp["entries"]:
            lines.append(f"{model_name(e['dataset'], e['w_r']):<16}{e['n']:>9}  {e['ode_sde']:>13.5f}{e['paper_ode_sde']:>9.5f}"
                         f"{e['rel_diff_ode_sde']:>+7.0%}  {e.get('w2_ours_vs_published_ode', float('nan')):>24.5f}"
                         f"{e.get('w2_ours_vs_published_sde', float('nan')):>9.5f}")
        if all(has_intervals(r) and _finite(r.get("floor")) for r in rows):
            checks = agreement_with_paper(rows, cmp)
            lines.append(f"\nagreement with the paper within Monte Carlo noise (3 σ + floor): {sum(c['agrees'] for c in checks)} "
                         f"of {len(checks)} entries")
            for c in checks:
                if not c["agrees"]:
                    lines.append(f"  {model_name(c['dataset'], c['w_r'])} {c['distance']}: ours {c['ours']:.5f}, paper {c['paper']:.5f}, "
                                 f"|diff| {abs(c['diff']):.5f} > tolerance {c['tolerance']:.5f}")
    return "\n".join(lines)
