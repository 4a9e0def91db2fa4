"""Formatting of computed W2² tables and claims for the book (pandas DataFrames, strings); it computes nothing.

The numbers come from scoregap.evaluation (rows, floors, claims, the paper's numbers).
"""
from __future__ import annotations

import math

import numpy as np

from .datasets import LABELS
from .evaluation import has_intervals


def with_interval(row: dict, col: str, scale: float = 1.0, digits: int = 3) -> str:
    """'estimate [low, high]' of one W2² entry (× scale); just the estimate when the row has no interval."""
    est = float(row[col]) * scale
    if not has_intervals(row, col):
        return f"{est:.{digits}g}"
    return f"{est:.{digits}g} [{float(row[f'{col}_ci_low']) * scale:.{digits}g}, {float(row[f'{col}_ci_high']) * scale:.{digits}g}]"


def _fmt(v, digits: int = 3) -> str:
    try:
        return f"{float(v):.{digits}g}" if math.isfinite(float(v)) else "–"
    except (TypeError, ValueError):
        return "–"


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


def claims_frame(claims: list[dict], paper: list[dict] | None = None, floors: dict | None = None, scale: float = 1e3):
    """pandas DataFrame of evaluation.claims (values × scale, 95 % intervals in brackets), with the paper's verdict on its
    own numbers when `paper` (evaluation.claims of evaluation.paper_rows()) is given; the MC floor column from
    `floors[d] = (mean, std)` where given, else the claim's own."""
    import pandas as pd

    theirs = {(c["claim"], c["dataset"]): c for c in paper or []}
    recs = []
    for c in claims:
        def cell(v, ci):
            return _fmt(v * scale) + (f" [{_fmt(ci[0] * scale)}, {_fmt(ci[1] * scale)}]" if ci else "")
        rec = {"claim": c["claim"], "data set": LABELS.get(c["dataset"], c["dataset"]), "statement": c["statement"],
               "left [95 % CI]": cell(c["lhs"], c["lhs_ci"]),
               "right [95 % CI]": (f"{c['factor']:g} × " if c["factor"] != 1 else "") + cell(c["rhs"], c["rhs_ci"]),
               "holds (estimates)": "yes" if c["holds"] else "no",
               "resolved (intervals disjoint)": "–" if c["resolved"] is None else ("yes" if c["resolved"] else "no"),
               "MC floor": _fmt((floors[c["dataset"]][0] if floors and c["dataset"] in floors else c["floor"]) * scale)}
        if paper is not None:
            p = theirs.get((c["claim"], c["dataset"]))
            rec["paper holds"] = "–" if p is None else ("yes" if p["holds"] else "no")
        recs.append(rec)
    return pd.DataFrame(recs)


def format_agreement(checks: list[dict]) -> str:
    """Summary of evaluation.agreement_with_paper: how many entries agree, and every one that does not."""
    lines = [f"agreement with the paper within Monte Carlo noise (3 σ + floor): {sum(c['agrees'] for c in checks)} of {len(checks)} entries"]
    for c in checks:
        if not c["agrees"]:
            lines.append(f"  {c['dataset']} w_R = {c['w_r']:g} {c['distance']}: ours {c['ours']:.5f}, paper {c['paper']:.5f}, "
                         f"|diff| {abs(c['diff']):.5f} > tolerance {c['tolerance']:.5f}")
    return "\n".join(lines)
