"""How robust are the claims: W2² of models trained with other seeds at one sample size, their spread, the claims C1–C3
per seed and on the seed means, and the gap along training (snapshots) with the authors' networks as the far point.

Every row goes through evaluation.evaluate_row (W2² {eq}`w2-metric`, FP residual {eq}`residual`) and
evaluation.add_floors (floor {eq}`mc-floor`); the claims are evaluation.claims. Seed 0 (the shipped models, sampled at a
larger size) enters at the study's size through metrics.thin_counts: the histogram of a uniformly random subset of its
samples, exactly.
"""
from __future__ import annotations

import ast
import csv
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import datasets, evaluation, metrics, provenance
from .config import make, model_name
from .experiment import read_result, stable_seed, write_rows
from .results import load_checkpoint, load_npz, save_npz, sha256

# ---------------------------------------------------------------------------------------------- the study


@dataclass(frozen=True)
class SeedStudy:
    """Which models the seed study trains and samples, and at what sizes (workflow config `seed_study`)."""

    seeds: tuple = (1, 2)
    """Training seeds beside the shipped seed 0."""
    datasets: tuple = datasets.PAPER_NAMES
    w_r: tuple = (0.0, 10.0)
    n_samples: int = 200_000
    """Samples per sampler of every seed's row (seed 0: thinned from its shipped samples)."""
    bootstrap: int = 8
    """Bootstrap replicates per W2² entry of the seed table (the interval of one network, at n_samples)."""
    snapshot_seeds: tuple = (1,)
    snapshot_datasets: tuple = ("checker",)
    snapshots: int = 4
    """Snapshots along training (train --snapshots) of the models of snapshot_seeds × snapshot_datasets × w_r."""
    curve_samples: int = 100_000
    """Samples per sampler of each snapshot."""
    thin_seed: int = 3
    """Seed of the thinning of the shipped samples and truth (each file derives its own stream from it)."""

    def __post_init__(self):
        def bad(name, allowed):
            raise ValueError(f"invalid seed_study {name}={getattr(self, name)!r}: {allowed}")

        for name in ("seeds", "snapshot_seeds"):
            v = tuple(getattr(self, name))
            if not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in v) or len(set(v)) != len(v):
                bad(name, "distinct integers >= 1 (seed 0 is the shipped models)")
        if not self.seeds:
            bad("seeds", "at least one seed")
        if not set(self.snapshot_seeds) <= set(self.seeds):
            bad("snapshot_seeds", f"a subset of seeds {list(self.seeds)}")
        for name in ("datasets", "snapshot_datasets"):
            v = tuple(getattr(self, name))
            if not v and name == "datasets" or not set(v) <= set(datasets.PAPER_NAMES):
                bad(name, f"a subset of {', '.join(datasets.PAPER_NAMES)}")
        if not set(self.snapshot_datasets) <= set(self.datasets):
            bad("snapshot_datasets", f"a subset of datasets {list(self.datasets)}")
        try:
            ws = [float(w) for w in self.w_r]
        except (TypeError, ValueError):
            ws = []
        if len(ws) < 2 or 0.0 not in ws or any(not 0 <= w < float("inf") for w in ws):
            bad("w_r", "FP weights >= 0 including 0.0 and a larger one (the claims compare w_R = 0 with the largest)")
        for name, low in (("n_samples", 2), ("curve_samples", 2), ("snapshots", 0), ("thin_seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                bad(name, f"an integer >= {low}")
        if isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int) or self.bootstrap < 0 or self.bootstrap == 1:
            bad("bootstrap", "0 (no intervals) or an integer >= 2")

    @property
    def all_seeds(self) -> tuple:
        """Seed 0 (the shipped models) and the study's seeds."""
        return (0, *self.seeds)

    def models(self) -> list[tuple[str, float, int]]:
        """(dataset, w_R, seed) of every model the study trains (seeds >= 1)."""
        return [(d, float(w), s) for s in self.seeds for d in self.datasets for w in self.w_r]

    def snapshot_models(self) -> list[tuple[str, float, int]]:
        """(dataset, w_R, seed) of the models trained with snapshots."""
        return [(d, float(w), s) for s in self.snapshot_seeds for d in self.snapshot_datasets for w in self.w_r]

    def keeps_snapshots(self, dataset: str, seed: int) -> bool:
        """Whether the training run of this data set and seed keeps snapshots."""
        return self.snapshots > 0 and int(seed) in self.snapshot_seeds and dataset in self.snapshot_datasets


def study(**fields) -> SeedStudy:
    """A validated SeedStudy from config values (lists become tuples; unknown keys are an error)."""
    known = {f.name for f in dataclasses.fields(SeedStudy)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"unknown seed_study key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    conv = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
    if "w_r" in conv:
        conv["w_r"] = tuple(float(w) for w in conv["w_r"])
    return SeedStudy(**conv)


# ---------------------------------------------------------------------------------------------- file names

SEED_TABLE_FILE = "w2_seeds.csv"
SEED_SUMMARY_FILE = "w2_seeds_summary.csv"
CURVE_FILE = "training_curve.csv"


def checkpoint_name(dataset: str, w_r: float, seed: int = 0) -> str:
    """<dataset>_w<w_R>.pt (seed 0, the shipped name) or <dataset>_w<w_R>_s<seed>.pt."""
    return model_name(dataset, w_r) + (f"_s{int(seed)}" if int(seed) else "") + ".pt"


def snapshot_name(dataset: str, w_r: float, seed: int, step: int) -> str:
    """<model>.step<step>.pt: training.snapshot_path of the checkpoint."""
    from .training import snapshot_path

    return snapshot_path(Path(checkpoint_name(dataset, w_r, seed)), int(step)).name


def results_dir(root, preset: str) -> Path:
    """data/results/<preset>: where the seed table and the training curve live."""
    return Path(root) / "data" / "results" / preset


def seed_dir(root, preset: str) -> Path:
    """data/results/<preset>/seeds: the study's samples (s<seed>/) and truth (truth/) at SeedStudy.n_samples."""
    return results_dir(root, preset) / "seeds"


def curve_dir(root, preset: str) -> Path:
    """data/results/<preset>/curve: the snapshots' samples and truth at SeedStudy.curve_samples."""
    return results_dir(root, preset) / "curve"


def seed_sample_file(root, preset: str, seed: int, dataset: str, w_r: float, method: str) -> Path:
    """Samples of one seed's model at the study's size."""
    return seed_dir(root, preset) / f"s{int(seed)}" / evaluation.sample_file_name(dataset, w_r, method)


def seed_truth_file(root, preset: str, dataset: str) -> Path:
    """Exact data samples at the study's size (thinned from the shipped truth)."""
    return seed_dir(root, preset) / "truth" / evaluation.truth_file_name(dataset)


def snapshot_sample_name(checkpoint, method: str) -> str:
    """<model>.step<step>_<method>.npz: the samples of one snapshot file with one sampler."""
    return f"{Path(checkpoint).stem}_{method}.npz"


def snapshot_sample_file(root, preset: str, dataset: str, w_r: float, seed: int, step: int, method: str) -> Path:
    """Samples of one snapshot (snapshot_sample_name) in curve_dir."""
    return curve_dir(root, preset) / snapshot_sample_name(snapshot_name(dataset, w_r, seed, step), method)


def curve_truth_file(root, preset: str, dataset: str) -> Path:
    """Exact data samples at the curve's size (thinned from the shipped truth)."""
    return curve_dir(root, preset) / "truth" / evaluation.truth_file_name(dataset)


def check_model(path, checkpoint) -> None:
    """Refuse (ValueError) a sample file whose record names another model than `checkpoint` (files without a recorded
    model, e.g. thinned ones, pass: their source is recorded instead)."""
    rec = provenance.read_record(path, load_npz(path)) or {}
    model = (rec.get("inputs") or {}).get("model")
    if model and model != provenance.file_sha256(checkpoint):
        raise ValueError(f"{path} was sampled from another model than {checkpoint}; remake it from that checkpoint")


# ---------------------------------------------------------------------------------------------- thinning

def thin_result(source, out, n: int, seed: int, config=None) -> dict:
    """Write the sample or truth file of a uniformly random n-subset of `source`'s samples (metrics.thin_counts on its
    counts and dropped samples; each file draws from stable_seed(seed, its data set, w_R, sampler, n)). The raw subsample
    is the source's (the same law; it is not restricted to the subset). The record states the source's sha256 and the
    configuration of a run of n samples (`config`, else the source's recorded one). Returns the new info."""
    arrays = load_npz(source)
    if not {"hist", "info"} <= set(arrays):
        raise ValueError(f"{source} is not a sample or truth file (no hist/info); give a file `sample` or `truth` wrote")
    info = ast.literal_eval(str(arrays["info"]))
    n_src, dropped = int(info["n"]), int(info["dropped"])
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= n_src:
        raise ValueError(f"invalid n={n!r}: between 1 and the {n_src:,} samples of {source}")
    counts = metrics.counts_from_weights(arrays["hist"], n_src - dropped)
    file_seed = stable_seed(seed, info["dataset"], info.get("w_r", "truth"), info["method"], n)
    c, d = metrics.thin_counts(counts, dropped, n, file_seed)
    new = {**info, "n": int(n), "dropped": int(d), "thinned_from": {"n": n_src, "dropped": dropped, "seed": file_seed}}
    src_record = provenance.read_record(source, arrays) or {}
    cfg = config.to_dict() if config is not None else dict(src_record.get("config") or {})
    if cfg:
        cfg["n_samples"] = int(n)
    record = {"step": "thin", "config": cfg or None, "code": provenance.code_hash("thin"), "inputs": {"source": sha256(source)},
              "thin": {"n": int(n), "seed": file_seed, "source_record": src_record or None}}
    save_npz(out, hist=(c / c.sum()).astype(np.asarray(arrays["hist"]).dtype), subsample=arrays["subsample"],
             info=np.array(repr(new)), record=provenance.record_array(record))
    return new


# ---------------------------------------------------------------------------------------------- the seed table

SEED_FIELDS = ("dataset", "w_r", "seed", "n", "ode_truth", "sde_truth", "ode_sde", "fp_residual", "floor", "floor_std",
               "dropped_ode", "dropped_sde", "final_dsm") + evaluation.UNCERTAINTY_FIELDS
"""Columns of the seed table (SEED_TABLE_FILE): dataset, w_r, seed, n, the three W2², fp_residual, floor first; then
the floor's spread, dropped counts, final DSM loss and the bootstrap columns of each W2² (evaluation.UNCERTAINTY_FIELDS)."""
SUMMARY_COLUMNS = ("ode_truth", "sde_truth", "ode_sde", "fp_residual")
SUMMARY_STATS = ("mean", "sd", "min", "max")
SUMMARY_FIELDS = ("dataset", "w_r", "seeds", "n") + tuple(f"{c}_{s}" for c in SUMMARY_COLUMNS for s in SUMMARY_STATS) + ("floor",)
"""Columns of the seed summary (SEED_SUMMARY_FILE): per (data set, w_R) the number of seeds, n, and per distance the
mean, the standard deviation over seeds (ddof 1), min and max; the Monte Carlo floor at n."""


def seed_row(dataset: str, w_r: float, seed: int, ode, sde, truth, checkpoint, bootstrap: int = 0, bootstrap_seed: int = 0,
             workers: int = 1) -> dict:
    """One row of the seed table: evaluation.evaluate_row of one seed's model (FP residual and final DSM from
    `checkpoint`), the bootstrap stream derived from `bootstrap_seed` and the training seed."""
    row = evaluation.evaluate_row(dataset, w_r, ode, sde, truth, checkpoint=checkpoint, bootstrap=bootstrap,
                                  bootstrap_seed=stable_seed(bootstrap_seed, "training seed", int(seed)), workers=workers)
    return {**row, "seed": int(seed)}


def read_rows(path) -> list[dict]:
    """Rows of a seed table, summary or training curve (checked against its record) with numbers parsed (dataset stays a string; seed, n, step ints)."""
    provenance.check_table(path)
    ints = {"seed", "n", "step", "seeds", "samples_seen", "dropped_ode", "dropped_sde", "bootstrap", "bootstrap_seed"}
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append({k: v if k == "dataset" else (int(float(v)) if k in ints and v not in ("", "nan") else float(v))
                         for k, v in r.items()})
    return rows


def write_table(rows: list[dict], fields, out, record: dict) -> None:
    """Write a table (atomic CSV, sorted by data set, w_R, seed, step) and its record `<file>.record.json`
    (provenance.make_record of the step that made it: configuration, code hash, inputs' sha256, settings)."""
    order = {d: i for i, d in enumerate(datasets.NAMES)}
    rows = sorted(rows, key=lambda r: (order.get(r["dataset"], 99), float(r["w_r"]), int(r.get("seed", 0)), int(r.get("step", 0))))
    write_rows(rows, fields, Path(out))
    provenance.write_record(out, record)


def summary(rows: list[dict]) -> list[dict]:
    """Per (data set, w_R) of seed-table rows: seeds, n, and mean, sd over seeds (ddof 1; NaN for one seed), min, max of
    each distance and the FP residual; the floor at n."""
    out = []
    for key in dict.fromkeys((r["dataset"], float(r["w_r"])) for r in rows):
        sel = [r for r in rows if (r["dataset"], float(r["w_r"])) == key]
        s = {"dataset": key[0], "w_r": key[1], "seeds": len(sel), "n": evaluation.sample_size(sel),
             "floor": float(np.mean([float(r["floor"]) for r in sel]))}
        for c in SUMMARY_COLUMNS:
            v = np.array([float(r[c]) for r in sel])
            s.update({f"{c}_mean": float(v.mean()), f"{c}_sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                      f"{c}_min": float(v.min()), f"{c}_max": float(v.max())})
        out.append(s)
    return out


def mean_rows(summary_rows: list[dict]) -> list[dict]:
    """The seed means as table rows (dataset, w_r, the three W2², fp_residual, n, floor) for evaluation.claims."""
    return [{"dataset": s["dataset"], "w_r": float(s["w_r"]), "n": s["n"], "floor": s["floor"],
             **{c: s[f"{c}_mean"] for c in SUMMARY_COLUMNS}} for s in summary_rows]


def claims_by_seed(rows: list[dict]) -> list[dict]:
    """evaluation.claims on every seed's rows separately (with that seed's bootstrap intervals) and on the seed means
    ('seed' = 'mean', no intervals): one list, each claim with its 'seed'."""
    out = []
    for s in sorted({int(r["seed"]) for r in rows}):
        out += [{**c, "seed": s} for c in evaluation.claims([r for r in rows if int(r["seed"]) == s])]
    out += [{**c, "seed": "mean"} for c in evaluation.claims(mean_rows(summary(rows)))]
    return out


def spread_vs_bootstrap(rows: list[dict]) -> list[dict]:
    """Per (data set, w_R, distance): the standard deviation over seeds beside the mean bootstrap standard error of one
    network at the same n, and their ratio (> 1: the spread between networks dominates the sampling noise)."""
    out = []
    for s in summary(rows):
        sel = [r for r in rows if (r["dataset"], float(r["w_r"])) == (s["dataset"], s["w_r"])]
        for c in evaluation.W2_COLUMNS:
            se = float(np.mean([float(r.get(f"{c}_se", float("nan"))) for r in sel]))
            sd = s[f"{c}_sd"]
            out.append({"dataset": s["dataset"], "w_r": s["w_r"], "distance": c, "seeds": s["seeds"], "mean": s[f"{c}_mean"], "sd": sd,
                        "bootstrap_se": se, "ratio": sd / se if se > 0 else float("nan")})
    return out


def against_paper(summary_rows: list[dict], paper_rows: list[dict]) -> list[dict]:
    """Per (data set, w_R, distance) with a paper value: the seed mean over the paper's value and where the paper's
    value lies against the seeds' range ('below' the best seed, 'within' min–max, 'above' the worst)."""
    paper = {(r["dataset"], float(r["w_r"])): r for r in paper_rows}
    out = []
    for s in summary_rows:
        p = paper.get((s["dataset"], float(s["w_r"])))
        for c in evaluation.W2_COLUMNS if p else ():
            v, lo, hi = float(p[c]), s[f"{c}_min"], s[f"{c}_max"]
            out.append({"dataset": s["dataset"], "w_r": float(s["w_r"]), "distance": c, "mean": s[f"{c}_mean"], "paper": v,
                        "ratio": s[f"{c}_mean"] / v, "position": "below" if v < lo else "above" if v > hi else "within"})
    return out


PAPER_POSITIONS = ("below", "within", "above")
"""Where the paper's value lies against the range of the seeds (against_paper's 'position')."""


def against_paper_verdict(entries: list[dict]) -> dict:
    """against_paper's entries grouped by position, with the smallest, largest and median ratio of seed mean to paper."""
    ratios = [x["ratio"] for x in entries]
    return {**{p: [x for x in entries if x["position"] == p] for p in PAPER_POSITIONS}, "entries": len(entries),
            "ratio_min": min(ratios), "ratio_max": max(ratios), "ratio_median": float(np.median(ratios))}


# ---------------------------------------------------------------------------------------------- the gap along training

CURVE_FIELDS = ("dataset", "w_r", "seed", "step", "samples_seen", "ode_truth", "sde_truth", "ode_sde", "fp_residual", "floor",
                "floor_std", "n", "dropped_ode", "dropped_sde", "final_dsm")
"""Columns of the training curve (CURVE_FILE): dataset, w_r, seed, step, samples_seen, the three W2², fp_residual,
floor first; then the floor's spread, n and the dropped counts."""


def snapshot_info(checkpoint) -> dict:
    """(dataset, w_r, seed, step, samples_seen) of a snapshot (or final checkpoint): samples seen = steps × dsm_batch."""
    _, cfg, summ = load_checkpoint(checkpoint)
    step = int(summ.get("steps", cfg.steps))
    return {"dataset": cfg.dataset, "w_r": float(cfg.w_r), "seed": int(cfg.seed), "step": step,
            "samples_seen": int(summ.get("samples_seen", step * cfg.dsm_batch))}


def curve_row(checkpoint, ode, sde, truth) -> dict:
    """One point of the gap along training: evaluation.evaluate_row of a snapshot's samples (its FP residual from the
    snapshot's weights), with its step and the training samples seen."""
    meta = snapshot_info(checkpoint)
    return {**evaluation.evaluate_row(meta["dataset"], meta["w_r"], ode, sde, truth, checkpoint=checkpoint), **meta}


def paper_budget() -> dict:
    """Steps, DSM batch and training samples seen of the paper's training (config preset `paper`)."""
    cfg = make("paper")
    return {"step": cfg.steps, "dsm_batch": cfg.dsm_batch, "samples_seen": cfg.steps * cfg.dsm_batch}


def far_points(published_rows: list[dict], curve_rows: list[dict]) -> list[dict]:
    """The authors' networks (rows of data/results/published/w2.csv) of the curve's data sets and weights, placed at the
    paper's budget (paper_budget): the far end of the gap along training (n: the published table's, 10⁶)."""
    keys = {(r["dataset"], float(r["w_r"])) for r in curve_rows}
    b = paper_budget()
    return [{"dataset": r["dataset"], "w_r": float(r["w_r"]), "seed": -1, "step": b["step"], "samples_seen": b["samples_seen"],
             "n": int(r["n"]), "floor": float(r["floor"]), **{c: float(r[c]) for c in (*evaluation.W2_COLUMNS, "fp_residual")}}
            for r in published_rows if (r["dataset"], float(r["w_r"])) in keys]


def end_points(table_rows: list[dict], curve_rows: list[dict], seed: int = 0) -> list[dict]:
    """The shipped networks of another training seed (rows of the preset's w2.csv, trained with the same settings) of the
    curve's data sets and weights, placed at the curve's last snapshot: the spread between seeds at the end of training."""
    last = {}
    for r in curve_rows:
        key = (r["dataset"], float(r["w_r"]))
        if key not in last or r["samples_seen"] > last[key]["samples_seen"]:
            last[key] = r
    return [{"dataset": r["dataset"], "w_r": float(r["w_r"]), "seed": int(seed), "step": last[k]["step"],
             "samples_seen": last[k]["samples_seen"], "n": int(r["n"]), "floor": float(r["floor"]),
             **{c: float(r[c]) for c in (*evaluation.W2_COLUMNS, "fp_residual")}}
            for r in table_rows for k in [(r["dataset"], float(r["w_r"]))] if k in last]


def power_law(curve_rows: list[dict], dataset: str, w_r: float, column: str, last: int = 3) -> dict:
    """Least-squares line through log W2² against log samples seen over the `last` snapshots of one model: exponent,
    and the value it predicts at the paper's budget (a rough extrapolation: the learning rate changes along training)."""
    sel = sorted((r for r in curve_rows if r["dataset"] == dataset and float(r["w_r"]) == float(w_r)), key=lambda r: r["samples_seen"])
    sel = sel[-last:]
    if len(sel) < 2:
        raise ValueError(f"{model_name(dataset, w_r)}: need at least 2 snapshots for a power law, got {len(sel)}")
    x = np.log([float(r["samples_seen"]) for r in sel])
    y = np.log([float(r[column]) for r in sel])
    slope, icpt = np.polyfit(x, y, 1)
    budget = paper_budget()["samples_seen"]
    return {"dataset": dataset, "w_r": float(w_r), "column": column, "exponent": float(slope), "points": len(sel),
            "predicted": float(np.exp(icpt + slope * np.log(budget))), "budget": budget}


def budget_extrapolation(curve_rows: list[dict], far_rows: list[dict], columns=(*evaluation.W2_COLUMNS, "fp_residual"),
                         last: int = 3) -> list[dict]:
    """Per model of the curve and column: the value at our last snapshot, the power law's prediction at the paper's
    budget (power_law over the `last` snapshots), the authors' network there (far_points), the ratio authors / predicted,
    and `share`: the fraction of the log-distance from our last snapshot to the authors' value that the extrapolated
    budget covers (1: the budget accounts for the whole difference; > 1: the power law overshoots); `floor`: the Monte
    Carlo floor of the last snapshot (a distance within a few floors of it is partly the floor's); `fit_from`, `budget`:
    the samples seen of the first fitted snapshot and of the paper's training (the power law's range)."""
    out = []
    for key in dict.fromkeys((r["dataset"], float(r["w_r"])) for r in curve_rows):
        sel = sorted((r for r in curve_rows if (r["dataset"], float(r["w_r"])) == key), key=lambda r: r["samples_seen"])
        far = next((r for r in far_rows if (r["dataset"], float(r["w_r"])) == key), None)
        if far is None or len(sel) < 2:
            continue
        for c in columns:
            fit = power_law(curve_rows, key[0], key[1], c, last=last)
            ours, authors = float(sel[-1][c]), float(far[c])
            gap = np.log(ours / authors)
            out.append({"dataset": key[0], "w_r": key[1], "column": c, "last": ours, "predicted": fit["predicted"],
                        "authors": authors, "exponent": fit["exponent"], "points": fit["points"],
                        "ratio": authors / fit["predicted"], "floor": float(sel[-1].get("floor", float("nan"))),
                        "fit_from": float(sel[-fit["points"]]["samples_seen"]), "budget": fit["budget"],
                        "share": float(np.log(ours / fit["predicted"]) / gap) if gap != 0 else float("nan")})
    return out


COVERS = (0.8, 1.25)
"""Shares of the log-distance (budget_extrapolation) counted as "the budget covers the difference"."""
NEAR_FLOOR = 3.0
"""A last-snapshot distance within this many Monte Carlo floors is partly the floor's (its power law too)."""


def budget_verdict(budget_rows: list[dict], covers: tuple = COVERS, near_floor: float = NEAR_FLOOR) -> dict:
    """Sort budget_extrapolation's rows: the budget covers the difference (share within `covers`, or no difference to
    cover: share NaN), the power law overshoots (share above), falls short (below); and the rows within `near_floor`
    Monte Carlo floors at the last snapshot."""
    lo, hi = covers
    if not 0 < lo <= 1 <= hi:
        raise ValueError(f"invalid covers={covers!r}: (low, high) with 0 < low <= 1 <= high")
    if not near_floor >= 0:
        raise ValueError(f"invalid near_floor={near_floor!r}: a number >= 0")
    return {"covers": [b for b in budget_rows if lo <= b["share"] <= hi or np.isnan(b["share"])],
            "overshoots": [b for b in budget_rows if b["share"] > hi],
            "falls_short": [b for b in budget_rows if b["share"] < lo],
            "near_floor": [b for b in budget_rows if b["last"] < near_floor * b["floor"]]}


# ---------------------------------------------------------------------------------------------- what exists

def status(root, preset: str = "cpu", config: SeedStudy | None = None) -> dict:
    """Which of the study's models, snapshots and tables exist under `root` (checkpoints counted with their checksum)."""
    cfg = config or SeedStudy()
    root = Path(root)
    ck = root / "data" / "checkpoints" / preset
    models = cfg.models()
    trained = [m for m in models if (ck / checkpoint_name(*m)).is_file() and (ck / (checkpoint_name(*m) + ".sha256")).is_file()]
    from .training import snapshot_steps

    steps = snapshot_steps(make(preset).steps, cfg.snapshots)
    snaps = [(d, w, s, k) for d, w, s in cfg.snapshot_models() for k in steps]
    have = [x for x in snaps if (ck / snapshot_name(*x)).is_file()]
    res = results_dir(root, preset)
    return {"models": models, "trained": trained, "missing": [m for m in models if m not in trained], "snapshots": snaps,
            "snapshots_done": have, "seed_table": (res / SEED_TABLE_FILE).is_file(), "summary": (res / SEED_SUMMARY_FILE).is_file(),
            "curve": (res / CURVE_FILE).is_file()}
