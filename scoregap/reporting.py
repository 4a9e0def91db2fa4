"""Text tables of W2² results beside the paper's, and the comparison with the authors' published histograms."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import metrics
from .config import W_R_VALUES, model_name
from .datasets import LABELS, PAPER_NAMES

PAPER_W2 = {  # (ode_truth, sde_truth, ode_sde) from PAPER.md, recomputed from the published 3 M-sample histograms
    ("blob", 0.0): (0.01097, 0.00218, 0.01160), ("blob", 0.1): (0.00604, 0.00294, 0.00311),
    ("blob", 1.0): (0.00528, 0.00427, 0.00290), ("blob", 10.0): (0.01722, 0.01599, 0.00221),
    ("circles2", 0.0): (0.01435, 0.00227, 0.01340), ("circles2", 0.1): (0.00737, 0.00332, 0.00528),
    ("circles2", 1.0): (0.00828, 0.00454, 0.00309), ("circles2", 10.0): (0.00938, 0.00910, 0.00170),
    ("checker", 0.0): (0.02442, 0.00368, 0.02720), ("checker", 0.1): (0.01139, 0.00539, 0.00716),
    ("checker", 1.0): (0.01143, 0.01155, 0.00353), ("checker", 10.0): (0.03305, 0.03216, 0.00210),
}
"""Published W2² table (PAPER.md)."""
PAPER_FP = {"blob": (12.4, 0.0100, 0.00337, 0.00117), "circles2": (50.7, 0.0179, 0.00396, 0.00085),
            "checker": (239.0, 0.0537, 0.00623, 0.00089)}
"""Published mean squared FP residuals for w_R = 0, 0.1, 1, 10 (PAPER.md)."""
COLUMNS = ("ode_truth", "sde_truth", "ode_sde")


def _finite(v) -> bool:
    try:
        return np.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def has_intervals(row: dict, col: str = "ode_truth") -> bool:
    """Whether a table row carries the bootstrap interval of `col` (tables written with evaluate --bootstrap B)."""
    return _finite(row.get(f"{col}_ci_low")) and _finite(row.get(f"{col}_ci_high"))


def with_interval(row: dict, col: str, scale: float = 1.0, digits: int = 3) -> str:
    """'estimate [low, high]' of one W2² entry (× scale); just the estimate when the row has no interval."""
    est = float(row[col]) * scale
    if not has_intervals(row, col):
        return f"{est:.{digits}g}"
    return f"{est:.{digits}g} [{float(row[f'{col}_ci_low']) * scale:.{digits}g}, {float(row[f'{col}_ci_high']) * scale:.{digits}g}]"


def format_tables(rows: list[dict], published: bool = False) -> str:
    """The three W2² tables × 10³: ours as 'estimate [95 % interval]' (when the rows carry bootstrap intervals), the
    bootstrap bias-corrected value, the Monte Carlo floor at the row's sample size, and the paper's value."""
    lines = []
    for j, col in enumerate(COLUMNS):
        lines.append(f"\nW2² {col.replace('_', '–').upper().replace('TRUTH', 'truth')} × 10³   "
                     "(ours: plug-in estimate [95 % bootstrap interval] | bias-corrected | MC floor at n | paper)")
        for d in PAPER_NAMES:
            for w in W_R_VALUES:
                r = next((r for r in rows if r["dataset"] == d and float(r["w_r"]) == w), None)
                if r is None:
                    continue
                p = PAPER_W2[(d, w)][j]
                deb = float(r.get(f"{col}_debiased", float("nan"))) * 1e3
                floor = float(r.get("floor", float("nan"))) * 1e3
                lines.append(f"{LABELS[d]:<14}w_R={w:<5g}{with_interval(r, col, 1e3):>26} | {deb:>7.3g} | {floor:>6.3g} | {p * 1e3:>7.3g}"
                             f"  (n = {int(r['n']):,})")
    return "\n".join(lines)


def _fmt(v, digits: int = 3) -> str:
    return f"{float(v):.{digits}g}" if _finite(v) else "–"


def interval_table(rows: list[dict], col: str, names, w_values, floors: dict | None = None, paper: np.ndarray | None = None,
                   scale: float = 1e3):
    """pandas DataFrame of one W2² column (× scale), one line per (data set, w_R): the plug-in estimate with its 95 %
    bootstrap interval, the bootstrap SE, the bias-corrected estimate, the Monte Carlo floor at the row's sample size
    (`floors[d] = (mean, std)`, else the row's floor columns) and, if given, the paper's value ((data set × w_R) array)."""
    import pandas as pd

    recs = []
    for i, d in enumerate(names):
        for j, w in enumerate(w_values):
            r = next((r for r in rows if r["dataset"] == d and float(r["w_r"]) == float(w)), None)
            if r is None:
                continue
            fl = floors[d] if floors and d in floors else (r.get("floor", float("nan")), r.get("floor_std", float("nan")))
            rec = {"data set": LABELS.get(d, d), "w_R": f"{float(w):g}",
                   "estimate [95 % CI]": with_interval(r, col, scale),
                   "SE": _fmt(float(r.get(f"{col}_se", float("nan"))) * scale),
                   "bias-corrected": _fmt(float(r.get(f"{col}_debiased", float("nan"))) * scale),
                   "MC floor ± std": f"{_fmt(float(fl[0]) * scale)} ± {_fmt(float(fl[1]) * scale, 2)}"}
            if paper is not None:
                rec["paper"] = _fmt(paper[i, j] * scale)
            recs.append(rec)
    return pd.DataFrame(recs).set_index(["data set", "w_R"])


def claims_frame(rows: list[dict], factor: float = 3.0, floors: dict | None = None, scale: float = 1e3):
    """pandas DataFrame of claims_with_intervals (values × scale, intervals in brackets)."""
    import pandas as pd

    recs = []
    for c in claims_with_intervals(rows, factor=factor):
        def cell(v, ci):
            return _fmt(v * scale) + (f" [{_fmt(ci[0] * scale)}, {_fmt(ci[1] * scale)}]" if ci else "")
        fl = floors[c["dataset"]][0] if floors and c["dataset"] in floors else c["floor"]
        recs.append({"claim": c["claim"], "data set": LABELS.get(c["dataset"], c["dataset"]), "statement": c["statement"],
                     "left [95 % CI]": cell(c["lhs"], c["lhs_ci"]),
                     "right [95 % CI]": (f"{c['factor']:g} × " if c["factor"] != 1 else "") + cell(c["rhs"], c["rhs_ci"]),
                     "holds (estimates)": "yes" if c["holds"] else "no",
                     "holds (intervals separated)": "–" if c["separated"] is None else ("yes" if c["separated"] else "no"),
                     "MC floor": _fmt(fl * scale)})
    return pd.DataFrame(recs)


def claims_with_intervals(rows: list[dict], factor: float = 3.0, w_hi: float = 10.0) -> list[dict]:
    """The paper's claims C1–C3 per data set, decided on the point estimates and on the 95 % bootstrap intervals.

    C1: ODE–SDE at w_R = 0 ≥ factor × ODE–SDE at w_R = w_hi; C2: at w_R = 0, ODE–truth > SDE–truth; C3: SDE–truth at
    w_R = w_hi > SDE–truth at w_R = 0. 'holds' compares the estimates; 'separated' asks the intervals to be disjoint in the
    claimed order (C1: lower end at w_R = 0 ≥ factor × upper end at w_hi), a conservative test; None when the rows carry
    no intervals. 'floor' is the Monte Carlo floor at the rows' sample size.
    """
    by = {(r["dataset"], float(r["w_r"])): r for r in rows}
    out = []
    for d in [d for d in PAPER_NAMES if (d, 0.0) in by and (d, w_hi) in by] + \
             sorted({r["dataset"] for r in rows} - set(PAPER_NAMES)):
        if (d, 0.0) not in by or (d, w_hi) not in by:
            continue
        r0, rh = by[(d, 0.0)], by[(d, w_hi)]
        checks = (("C1", f"ODE–SDE at w_R = 0 ≥ {factor:g} × ODE–SDE at w_R = {w_hi:g}", (r0, "ode_sde"), (rh, "ode_sde"), factor),
                  ("C2", "at w_R = 0: ODE–truth > SDE–truth", (r0, "ode_truth"), (r0, "sde_truth"), 1.0),
                  ("C3", f"SDE–truth at w_R = {w_hi:g} > SDE–truth at w_R = 0", (rh, "sde_truth"), (r0, "sde_truth"), 1.0))
        for cid, text, (ra, ca), (rb, cb), f in checks:
            a, b = float(ra[ca]), float(rb[cb])
            iv = has_intervals(ra, ca) and has_intervals(rb, cb)
            out.append({"claim": cid, "dataset": d, "statement": text, "lhs": a, "rhs": b, "factor": f,
                        "lhs_ci": (float(ra[f"{ca}_ci_low"]), float(ra[f"{ca}_ci_high"])) if iv else None,
                        "rhs_ci": (float(rb[f"{cb}_ci_low"]), float(rb[f"{cb}_ci_high"])) if iv else None,
                        "holds": bool(a >= f * b) if cid == "C1" else bool(a > b),
                        "separated": (bool(float(ra[f"{ca}_ci_low"]) > f * float(rb[f"{cb}_ci_high"])) if iv else None),
                        "floor": float(r0.get("floor", float("nan")))})
    return out


def format_claims(rows: list[dict], factor: float = 3.0) -> str:
    """C1–C3 per data set with the 95 % intervals (× 10³) of the entries they compare."""
    lines = ["\nclaims (× 10³; 'separated': the 95 % intervals do not overlap in the claimed order)"]
    for c in claims_with_intervals(rows, factor=factor):
        def cell(v, ci):
            return f"{v * 1e3:.3g}" + (f" [{ci[0] * 1e3:.3g}, {ci[1] * 1e3:.3g}]" if ci else "")
        rhs = (f"{c['factor']:g} × " if c["factor"] != 1 else "") + cell(c["rhs"], c["rhs_ci"])
        sep = "" if c["separated"] is None else ("  separated" if c["separated"] else "  intervals overlap")
        lines.append(f"{c['claim']} {LABELS.get(c['dataset'], c['dataset']):<13} {cell(c['lhs'], c['lhs_ci'])} vs {rhs}: "
                     f"{'holds' if c['holds'] else 'fails'}{sep}  (floor {c['floor'] * 1e3:.3g})")
    return "\n".join(lines)


def published_hist_path(root: Path, dataset: str, w: float, kind: str) -> Path:
    """Path of a published precomputed histogram (kind: ode, sde or truth)."""
    if kind == "truth":
        return root / "precomputed_dists" / f"weights_truth_64_3000000_{dataset}.npy"
    return root / "precomputed_dists" / f"weights_{kind}_64_3000000_100000_800_{dataset}_{float(w)}.npy"


def compare_published(rows: list[dict], root: Path, samples_dir: Path) -> dict:
    """Our W2² of the authors' networks vs the published numbers, and W2² between our and their histograms."""
    from .experiment import read_result

    out = {"entries": []}
    for r in rows:
        d, w = r["dataset"], float(r["w_r"])
        entry = {"dataset": d, "w_r": w, "n": r["n"]}
        for j, col in enumerate(COLUMNS):
            entry[col] = r[col]
            entry[f"paper_{col}"] = PAPER_W2[(d, w)][j]
            entry[f"rel_diff_{col}"] = (r[col] - PAPER_W2[(d, w)][j]) / PAPER_W2[(d, w)][j]
        for kind in ("ode", "sde"):
            p = published_hist_path(root, d, w, kind)
            if p.is_file():
                ours, _, _ = read_result(samples_dir / f"{model_name(d, w)}_{kind}.npz")
                entry[f"w2_ours_vs_published_{kind}"] = metrics.w2_squared(ours, np.load(p))
        out["entries"].append(entry)
    return out


PAPER_SAMPLES = 3_000_000
"""Samples per sampler behind the paper's W2² tables; their variance relative to ours at n is n / PAPER_SAMPLES."""


def agreement_with_paper(rows: list[dict], cmp: dict, sigmas: float = 3.0) -> list[dict]:
    """Per (data set, w_R, distance): does our W2² of a published network agree with the paper's within Monte Carlo noise?

    Tolerance = sigmas · se · sqrt(1 + n / PAPER_SAMPLES) + floor: `se` is our bootstrap standard error at n samples, the
    paper's value (same estimator, PAPER_SAMPLES samples) carries n / PAPER_SAMPLES of our variance, and the floor (W2² between two exact samples of our size) bounds the
    difference between the two plug-in estimates' upward biases. Also: W2² between our histogram and the authors' of
    the same network and sampler, against floor + sigmas · floor_std (same distribution, so at most the floor).
    """
    table = {(r["dataset"], float(r["w_r"])): r for r in rows}
    out = []
    for e in cmp["entries"]:
        r = table[(e["dataset"], float(e["w_r"]))]
        if not has_intervals(r):
            raise ValueError(f"{e['dataset']} w_R={e['w_r']}: the W2² table has no bootstrap standard errors (evaluate --bootstrap B)")
        for col in COLUMNS:
            tol = sigmas * r[f"{col}_se"] * (1 + r["n"] / PAPER_SAMPLES) ** 0.5 + r["floor"]
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


def format_agreement(checks: list[dict]) -> str:
    """Summary of agreement_with_paper: how many entries agree, and every one that does not."""
    ok = sum(c["agrees"] for c in checks)
    lines = [f"\nagreement with the paper within Monte Carlo noise (3 σ + floor): {ok} of {len(checks)} entries"]
    for c in checks:
        if not c["agrees"]:
            lines.append(f"  {model_name(c['dataset'], c['w_r'])} {c['distance']}: ours {c['ours']:.5f}, paper {c['paper']:.5f}, "
                         f"|diff| {abs(c['diff']):.5f} > tolerance {c['tolerance']:.5f}")
    return "\n".join(lines)


def format_comparison(cmp: dict) -> str:
    """One line per published network: our W2² vs theirs, and our histogram vs theirs."""
    lines = [f"\n{'model':<16}{'n':>9}  {'ODE–SDE ours':>13}{'paper':>9}{'rel':>7}  {'W2²(our ODE, their ODE)':>24}{'(SDE)':>9}"]
    for e in cmp["entries"]:
        lines.append(f"{model_name(e['dataset'], e['w_r']):<16}{e['n']:>9}  {e['ode_sde']:>13.5f}{e['paper_ode_sde']:>9.5f}{e['rel_diff_ode_sde']:>+7.0%}"
                     f"  {e.get('w2_ours_vs_published_ode', float('nan')):>24.5f}{e.get('w2_ours_vs_published_sde', float('nan')):>9.5f}")
    return "\n".join(lines)


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
