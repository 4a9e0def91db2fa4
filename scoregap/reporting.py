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


def format_tables(rows: list[dict], published: bool = False) -> str:
    """The three W2² tables, ours beside the paper's with the relative difference."""
    lines = []
    for j, col in enumerate(COLUMNS):
        lines.append(f"\nW2² {col.replace('_', '–').upper().replace('TRUTH', 'truth')}   (ours | paper | rel. diff)")
        lines.append(f"{'data set':<14}" + "".join(f"{'w_R=' + str(w):>28}" for w in W_R_VALUES))
        for d in PAPER_NAMES:
            cells = []
            for w in W_R_VALUES:
                r = next((r for r in rows if r["dataset"] == d and float(r["w_r"]) == w), None)
                if r is None:
                    cells.append(f"{'–':>28}")
                    continue
                p = PAPER_W2[(d, w)][j]
                cells.append(f"{r[col]:>10.5f} |{p:>8.5f} |{(r[col] - p) / p:>+6.0%}")
            lines.append(f"{LABELS[d]:<14}" + "".join(cells))
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
