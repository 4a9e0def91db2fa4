"""What made each artefact (resolved configuration, code hash, inputs' sha256) and the checks its consumers make.

Every file of the experiment carries a record: checkpoints and sample/truth archives hold it inside (`record`), tables
and files written before records existed have it next to them in `<file>.record.json`. The code hash of each step is
computed here once; the workflow (workflow/rules/common.smk) and the book's cache keys import it.
"""
from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from .config import ExperimentConfig

PACKAGE = Path(__file__).resolve().parent

# "module.py" hashes the whole module; "module.py:a,b" only the named top-level functions/classes/constants.
CODE = {
    "train": ["training.py", "models.py", "losses.py", "datasets.py", "sde.py", "cli.py:_config,cmd_train"],
    "sample": ["samplers.py", "models.py", "sde.py", "metrics.py:GRID_N,BOX,_as_numpy_points,histogram",
               "experiment.py:SUBSAMPLE,stable_seed,sample_seed,run_sample", "cli.py:_config,cmd_sample"],
    "truth": ["datasets.py", "sde.py", "metrics.py:GRID_N,BOX,_as_numpy_points,histogram", "experiment.py:SUBSAMPLE,stable_seed,run_truth",
              "cli.py:_config,cmd_truth"],
    "evaluate": ["metrics.py", "losses.py", "models.py", "datasets.py", "evaluation.py", "experiment.py:stable_seed,sample_seed,read_result,write_rows",
                 "provenance.py:expected_result,recorded_result,check_result,check_result_file",
                 "cli.py:refuse_nonfinite,check_evaluation_inputs,cmd_evaluate"],
    "residuals": ["losses.py", "models.py", "experiment.py:RESIDUAL_FIELDS,residual_rows,write_rows", "cli.py:refuse_nonfinite,cmd_residuals"],
    "solver_study": ["solvers.py", "solver_study.py", "samplers.py", "models.py", "sde.py", "datasets.py", "metrics.py",
                     "evaluation.py:FLOOR_REPEATS,FLOOR_SEED,floor", "experiment.py:stable_seed,write_rows", "results.py:load_checkpoint",
                     "cli.py:cmd_solver_study"],
    # the numerics behind the book's recomputed (cached) results
    "book": ["sde.py", "datasets.py", "models.py", "losses.py", "samplers.py", "metrics.py", "experiment.py", "evaluation.py",
             "config.py"],
    # the seed study (seeds.py): thinned files, the seed table and its summary, the training curve
    "thin": ["metrics.py:_check_counts,counts_from_weights,thin_counts", "experiment.py:stable_seed", "seeds.py:thin_result",
             "cli.py:cmd_thin"],
}
_EVALUATE_NUMERICS = [s for s in CODE["evaluate"] if not s.startswith("cli.py")]
CODE["seed_table"] = _EVALUATE_NUMERICS + ["seeds.py:SEED_FIELDS,SUMMARY_COLUMNS,SUMMARY_STATS,SUMMARY_FIELDS,checkpoint_name,"
                                           "check_model,seed_row,write_table,summary", "cli.py:cmd_seed_table"]
CODE["training_curve"] = _EVALUATE_NUMERICS + ["seeds.py:CURVE_FIELDS,snapshot_sample_name,check_model,snapshot_info,curve_row,"
                                               "write_table", "cli.py:cmd_training_curve"]
"""Step → the code it runs (what its code hash covers)."""

_FIELDS = [f.name for f in dataclasses.fields(ExperimentConfig)]
STEP_FIELDS = {
    "sample": {"nfe", "schedule", "n_samples", "grid_n", "box", "eps", "T", "sample_seed", "device"},
    "truth": {"n_samples", "grid_n", "box", "truth_seed"},
    # evaluate checks that its files were made with these (check_result)
    "evaluate": {"n_samples", "grid_n", "box", "sample_seed", "truth_seed"},
    "train": set(_FIELDS) - {"preset", "dataset", "w_r", "models_from", "nfe", "schedule", "n_samples", "grid_n", "sample_seed",
                             "truth_seed"},
}
"""Step → the configuration fields it uses."""
RESUME_FIELDS = STEP_FIELDS["train"] - {"checkpoint_every", "log_every", "device"} | {"dataset", "w_r"}
"""Fields a saved training state must share with the run that resumes it (the others do not change the weights)."""


def _strip_docstrings(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _node_names(node) -> set:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def code_hash(step: str, root: Path = PACKAGE) -> str:
    """sha256 (16 hex digits) of the code a step runs (CODE[step]): AST without docstrings, comments or layout."""
    if step not in CODE:
        raise ValueError(f"invalid step={step!r}: one of {', '.join(CODE)}")
    h = hashlib.sha256()
    for spec in CODE[step]:
        mod_file, _, names = spec.partition(":")
        path = Path(root) / mod_file
        tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
        if names:
            wanted = set(names.split(","))
            nodes = [n for n in tree.body if _node_names(n) & wanted]
            missing = wanted - set().union(*[_node_names(n) for n in nodes]) if nodes else wanted
            if missing:
                raise ValueError(f"provenance.CODE[{step!r}]: scoregap/{mod_file} has no {', '.join(sorted(missing))}")
        else:
            nodes = tree.body
        h.update(spec.encode())
        for n in nodes:
            h.update(ast.dump(n, annotate_fields=False, include_attributes=False).encode())
    return h.hexdigest()[:16]


def file_sha256(path) -> str:
    """The sha256 of a file: its checksum sidecar's when it has one, else computed."""
    path = Path(path)
    side = Path(str(path) + ".sha256")
    if side.is_file():
        fields = side.read_text().split()
        if fields:
            return fields[0]
    return content_sha256(path)


def make_record(step: str, config: ExperimentConfig | None, inputs: dict | None = None, **extra) -> dict:
    """The record of one artefact: step, resolved configuration, code hash, inputs' sha256 ({name: path or digest})."""
    ins = {}
    for name, value in (inputs or {}).items():
        ins[name] = value if isinstance(value, str) and not Path(value).exists() else file_sha256(value)
    return {"step": step, "config": config.to_dict() if config is not None else None, "code": code_hash(step),
            "inputs": ins, **extra}


def record_array(record: dict) -> np.ndarray:
    """A record as the 0-d string array stored in an .npz (`record`)."""
    return np.array(json.dumps(record, sort_keys=True))


def sidecar(path) -> Path:
    """Where a file that cannot hold its record keeps it: `<file>.record.json`."""
    return Path(str(path) + ".record.json")


def read_record(path, arrays: dict | None = None) -> dict | None:
    """The record of a file: the `record` inside it (an .npz's arrays, a checkpoint's dict), else its `.record.json`, else None."""
    if arrays is not None and "record" in arrays:
        rec = arrays["record"]
        return json.loads(str(rec)) if isinstance(rec, (np.ndarray, str)) else dict(rec)
    side = sidecar(path)
    if side.is_file():
        try:
            return json.loads(side.read_text())
        except ValueError as err:
            raise ValueError(f"{side} is not valid JSON ({err}); remake {Path(path).name} or restore the record") from None
    return None


def content_sha256(path) -> str:
    """The sha256 of a file's bytes (never a sidecar's word for it)."""
    from .results import sha256  # results imports nothing of provenance; late, so provenance stays light to import

    return sha256(path)


def write_record(path, record: dict) -> None:
    """Write `<file>.record.json` (atomically), with the file's own sha256 (`sha256`) as written."""
    from .results import write_json

    write_json(sidecar(path), {**record, "sha256": content_sha256(path)})


def check_table(path) -> None:
    """Refuse (ValueError, one line naming the file and the fix) a table without its `<file>.record.json` or whose bytes
    are not the ones its record names (`sha256`)."""
    path = Path(path)
    fix = (f"remake it with the command that writes it (its record's `command`, data/README.md), or restore the shipped "
           f"table and its record from git (`git checkout -- {path} {sidecar(path)}`)")
    record = read_record(path)
    if record is None:
        raise ValueError(f"{path} has no record ({sidecar(path).name}: what made it and its sha256), so it is not read; {fix}")
    want = record.get("sha256")
    if not want:
        raise ValueError(f"{path}: its record {sidecar(path).name} holds no sha256 of the table, so it is not read; {fix}")
    got = content_sha256(path)
    if got != want:
        raise ValueError(f"{path} is not the table its record names (sha256 {got[:12]}…, recorded {want[:12]}…): "
                         f"it was changed after it was written; {fix}")


def config_differences(saved: dict, config: ExperimentConfig, fields=RESUME_FIELDS) -> list[str]:
    """`field: saved → now` for each of `fields` where a saved configuration (dict) differs from `config`."""
    now = config.to_dict()
    diffs = []
    for f in sorted(fields):
        a, b = saved.get(f), now.get(f)
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            same = len(a) == len(b) and all(float(x) == float(y) for x, y in zip(a, b))
        else:
            same = a == b
        if not same:
            diffs.append(f"{f}: {a!r} → {b!r}")
    return diffs


def expected_result(config: ExperimentConfig, dataset: str, w_r: float | None, method: str, seed: int) -> dict:
    """What a sample (method ode/sde) or truth file of `config` must record to enter a table of `config`."""
    exp = {"dataset": dataset, "method": method, "n": config.n_samples, "seed": int(seed), "grid_n": config.grid_n, "box": config.box}
    if w_r is not None:
        exp["w_r"] = float(w_r)
    return exp


def recorded_result(path, hist: np.ndarray, info: dict, record: dict | None) -> dict:
    """What a sample or truth file says about itself: its info, the grid of its histogram, the box of its record."""
    got = dict(info)
    side = int(round(np.sqrt(hist.size)))
    got["grid_n"] = side if side * side == hist.size else f"{hist.size} bins (not a square grid)"
    cfg = (record or {}).get("config") or {}
    got["box"] = cfg.get("box", "not recorded")
    return got


def check_result(path, hist: np.ndarray, info: dict, record: dict | None, expected: dict) -> None:
    """Refuse (ValueError naming the file and fields) a sample/truth file that was made for another table, or whose
    histogram is not finite or not normalised."""
    got = recorded_result(path, hist, info, record)
    bad = [f"{k} {got.get(k, 'not recorded')!r} (expected {v!r})" for k, v in expected.items()
           if not (got.get(k) == v or (isinstance(v, float) and isinstance(got.get(k), (int, float)) and float(got[k]) == v))]
    if bad:
        raise ValueError(f"{path} does not belong to this table: {'; '.join(bad)}; remake it with the same --preset/--set, "
                         f"or evaluate with the settings it was made with")
    if not np.all(np.isfinite(hist)):
        raise ValueError(f"{path}: the histogram holds non-finite values; remake the file")
    if hist.size and abs(float(np.sum(hist)) - 1.0) > 1e-6:
        raise ValueError(f"{path}: the histogram sums to {float(np.sum(hist)):.6g}, not 1; remake the file")


def check_result_file(path, config: ExperimentConfig, dataset: str, w_r: float | None, method: str) -> None:
    """Refuse a sample (`method` ode/sde) or truth (`method` truth) file unless it was made with `config` for this model:
    data set, w_R, sampler, sample size, seed, grid and box as its record and info say (ValueError naming the file)."""
    import ast

    from .experiment import sample_seed, stable_seed
    from .results import load_npz

    arrays = load_npz(path)
    missing = {"hist", "info"} - set(arrays)
    if missing:
        raise ValueError(f"{path} is not a sample or truth file (no {', '.join(sorted(missing))}); give the files `sample`/`truth` write")
    try:
        info = ast.literal_eval(str(arrays["info"]))
    except (ValueError, SyntaxError):
        raise ValueError(f"{path}: unreadable info; remake the file") from None
    seed = stable_seed(config.truth_seed, dataset, "truth") if method == "truth" else sample_seed(config, dataset, w_r, method)
    check_result(path, np.asarray(arrays["hist"]), info, read_record(path, arrays),
                 expected_result(config, dataset, None if method == "truth" else w_r, method, seed))


BACKFILLED = ("record written after the file, from its stored info and the settings of its preset; "
              "the code hash was not recorded at the time")


def backfill(path, config: ExperimentConfig, method: str, inputs: dict | None = None) -> bool:
    """Give a sample or truth file written before records existed its `<file>.record.json`, without recomputing it:
    the record states `config`, after checking that the file's info and histogram agree with it. False if it has one."""
    import ast

    from .experiment import sample_seed, stable_seed
    from .results import load_npz

    arrays = load_npz(path)
    if read_record(path, arrays) is not None:
        return False
    info = ast.literal_eval(str(arrays["info"]))
    dataset, w_r = info["dataset"], info.get("w_r")
    seed = stable_seed(config.truth_seed, dataset, "truth") if method == "truth" else sample_seed(config, dataset, w_r, method)
    record = {"step": "truth" if method == "truth" else "sample", "config": config.to_dict(), "code": None,
              "inputs": {k: file_sha256(v) if Path(v).exists() else v for k, v in (inputs or {}).items()}, "backfilled": BACKFILLED}
    check_result(path, np.asarray(arrays["hist"]), info, record,
                 expected_result(config, dataset, None if method == "truth" else w_r, method, seed))
    write_record(path, record)
    return True


SHIPPED_RESULT_FOLDERS = ("samples", "samples_1m", "truth")
"""Folders of data/results/{cpu,published} that hold the grid's sample and truth files written before records existed."""


def backfill_shipped(root=PACKAGE.parent) -> list[Path]:
    """Records of the shipped cpu and published sample/truth files (data/results/{cpu,published}); returns those written."""
    import ast

    from .config import make
    from .results import load_npz

    root = Path(root)
    written = []
    for folder, models in (("cpu", "data/checkpoints/cpu"), ("published", None)):
        # the grid's folders only (not seeds/, curve/: their files carry their records inside)
        for f in sorted(f for sub in SHIPPED_RESULT_FOLDERS for f in (root / "data" / "results" / folder / sub).glob("*.npz")):
            info = ast.literal_eval(str(load_npz(f)["info"]))
            d, method = info["dataset"], info["method"]
            if method == "truth":
                cfg, inputs = make("cpu", dataset=d, n_samples=info["n"]), {}
            else:
                cfg = make("cpu", dataset=d, w_r=info["w_r"], n_samples=info["n"], device=info.get("device", "cpu"))
                ck = root / models / f"{cfg.name}.pt" if models else None
                inputs = {"model": ck if ck is not None else "published network (the authors' release)"}
            if backfill(f, cfg, method, inputs):
                written.append(f)
    return written


_GRID_CHECKPOINTS = "data/checkpoints/cpu/{model}.pt"
SHIPPED_TABLES = {
    "data/results/cpu/w2.csv": (
        "evaluate", {"n_samples": 1_000_000},
        "python -m scoregap evaluate --preset cpu --set n_samples=1000000 --samples-dir data/results/cpu/samples "
        "--truth-dir data/results/cpu/truth --checkpoint-dir data/checkpoints/cpu --dataset blob circles2 checker "
        "--w-r 0.0 0.1 1.0 10.0 --bootstrap 8 --out data/results/cpu/w2.csv --threads 2",
        ("data/results/cpu/samples/{model}_ode.npz", "data/results/cpu/samples/{model}_sde.npz", _GRID_CHECKPOINTS,
         "data/results/cpu/truth/truth_{dataset}.npz")),
    "data/results/published/w2.csv": (
        "evaluate", {"n_samples": 1_000_000},
        "python -m scoregap evaluate --preset cpu --published $SCOREGAP_REFERENCE_DIR --samples-dir "
        "data/results/published/samples --truth-dir data/results/published/truth --dataset blob circles2 checker "
        "--bootstrap 8 --bootstrap-seed 0 --out data/results/published/w2.csv --threads 1",
        ("data/results/published/samples/{model}_ode.npz", "data/results/published/samples/{model}_sde.npz",
         "data/results/published/truth/truth_{dataset}.npz")),
    "data/results/cpu/solver_study.csv": (
        "solver_study", {"dataset": "checker"},
        "python -m scoregap solver-study --checkpoint data/checkpoints/cpu/checker_w0.0.pt "
        "data/checkpoints/cpu/checker_w10.0.pt --n-samples 20000 --threads 1 --out data/results/cpu/solver_study.csv",
        ("data/checkpoints/cpu/checker_w0.0.pt", "data/checkpoints/cpu/checker_w10.0.pt")),
    "data/results/residuals.csv": (
        "residuals", {},
        "python -m scoregap residuals --checkpoint-dir data/checkpoints/cpu --published $SCOREGAP_REFERENCE_DIR "
        "--out data/results/residuals.csv",
        (_GRID_CHECKPOINTS,)),
    "data/results/gaussian_bound.csv": (
        None, {}, "python -m scoregap bound --out data/results/gaussian_bound.csv", ()),
}
"""Shipped table (repository path) → (its step, the `cpu` preset's overrides it ran with, the command that made it (data/README.md,
the workflow's rules), its shipped inputs ({model}, {dataset} over the paper's grid))."""
TABLE_BACKFILLED = ("record written after the table, without recomputing it: the command and settings that made it, the sha256 of "
                    "its shipped inputs as shipped and of the table itself; the code hash was not recorded at the time")


def backfill_tables(root=PACKAGE.parent) -> list[Path]:
    """Records (`<table>.record.json`) of the shipped tables that have none (SHIPPED_TABLES), without recomputing them;
    returns those written."""
    from .config import W_R_VALUES, make, model_name
    from .datasets import PAPER_NAMES

    root = Path(root)
    written = []
    for rel, (step, overrides, command, patterns) in SHIPPED_TABLES.items():
        path = root / rel
        if not path.is_file() or read_record(path) is not None:
            continue
        names = dict.fromkeys(p.format(model=model_name(d, w), dataset=d) for p in patterns for d in PAPER_NAMES for w in W_R_VALUES)
        inputs = {n: file_sha256(root / n) for n in names if (root / n).is_file()}
        if "$SCOREGAP_REFERENCE_DIR" in command:
            inputs["published networks"] = "the authors' release (not shipped)"
        write_record(path, {"step": step, "config": make("cpu", **overrides).to_dict() if step else None, "code": None,
                            "command": command, "inputs": inputs, "backfilled": TABLE_BACKFILLED})
        written.append(path)
    return written


if __name__ == "__main__":  # python -m scoregap.provenance: records of the shipped files
    for _f in backfill_shipped() + backfill_tables():
        print(sidecar(_f))
