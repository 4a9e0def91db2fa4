# Configuration checks and helpers shared by all rules.
#
# Rerun policy (docs/workflow.md, "When does a job rerun?"):
#  * A fresh `git clone` gives every file a new modification time in arbitrary order, and Snakemake
#    (9.27) always compares the mtimes of inputs and outputs (`--rerun-triggers` without mtime does not
#    switch that off).  So a data input that Snakemake has no record of having made here (a file from git,
#    or written by hand or by another tool) is an `ancient()` input: its mtime never makes a job rerun.
#    Files this checkout's Snakemake made are plain inputs (mtime, and the input checksums Snakemake
#    records, apply; a rerun upstream reruns the jobs downstream), and so are files that --forcerun is
#    about to remake.  See data() below.
#  * What a job computes is described by its `params`, which Snakemake records per output and compares
#    on the next run (the `params` rerun trigger): the preset, the overrides the step uses, the step's
#    fully resolved settings (so an edited preset in scoregap/config.py reruns it), a hash of the code the
#    step runs (the AST of the relevant scoregap modules without docstrings: comments, docstrings and
#    formatting rerun nothing) and `upstream`, a hash of the same description of every job upstream (for
#    checkpoints this preset does not make: their recorded sha256).
#  * The scoregap modules are inputs too, always ancient(): they show the dependency in the DAG, their
#    content counts through `code`, their mtime never.
import hashlib
import json
import os
import re
import shlex

import yaml

from snakemake.exceptions import WorkflowError
from snakemake.io import _IOFile

from snakemake.utils import validate

from scoregap import datasets as sg_datasets
from scoregap import provenance
from scoregap.config import PRESETS, W_R_VALUES, make, model_name, parse_overrides

PYTHON = sys.executable
BIN = str(Path(sys.executable).parent)


def _fail(msg):
    raise WorkflowError(f"config: {msg}")


# --- configuration ---------------------------------------------------------------------------------
def _typed(value):
    """`--config 'seed_study={seeds: [1, 2]}'` arrives with its leaves as strings ('1'): numbers and booleans become
    what they read as in YAML, before the schema checks their types."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if isinstance(parsed, (int, float, bool)) else value
    return value


if isinstance(config.get("seed_study"), dict):
    config["seed_study"] = _typed(config["seed_study"])

# The keys and their types: workflow/schemas/config.schema.yaml (an unknown or misspelled key is an error).
try:
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
except WorkflowError as err:
    _msg = " ".join(str(err).split())
    _where = re.search(r"On instance(\S+):", _msg)
    _fail(_msg.split(" Failed validating")[0].replace("Error validating config file. ValidationError: ", "")
          + (f" (at {_where[1]}); the keys, their types and bounds: workflow/schemas/config.schema.yaml" if _where else
             "; the keys, their types and bounds: workflow/schemas/config.schema.yaml"))
PRESET = str(config.get("preset", "cpu"))
if PRESET not in PRESETS:
    _fail(f"preset={PRESET!r} is not one of {', '.join(PRESETS)}")


def parse_override_spec(spec, key):
    """'a=1 b=2' or {a: 1} or None → {'a': '1', 'b': '2'} (values as strings, keys with _)."""
    if spec is None or spec == "":
        return {}
    if isinstance(spec, dict):
        items = {str(k).replace("-", "_"): v for k, v in spec.items()}
    elif isinstance(spec, str):
        try:
            items = parse_overrides(shlex.split(spec))
        except ValueError as err:
            _fail(f"{key}: {err}")
    elif isinstance(spec, (list, tuple)):
        try:
            items = parse_overrides([str(s) for s in spec])
        except ValueError as err:
            _fail(f"{key}: {err}")
    else:
        _fail(f"{key} must be a string 'field=value ...' or a mapping, not {spec!r}")
    out = {}
    for k, v in items.items():
        if isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        elif isinstance(v, bool):
            v = str(v).lower()
        out[k] = str(v)
    reserved = sorted(set(out) & {"dataset", "w_r", "seed", "preset"})
    if reserved:
        _fail(f"{key} may not set {', '.join(reserved)}: use the config keys datasets, w_r, seeds, preset")
    return out


def _with_device(overrides, device):
    out = dict(overrides)
    out.setdefault("device", str(device))
    if out["device"] == "cpu":
        del out["device"]  # the default; keeps params (and the --set list) identical to a plain run
    return out


DEVICE_DEFAULT = str(config.get("device", "cpu"))
OVERRIDES = _with_device(parse_override_spec(config.get("overrides"), "overrides"), DEVICE_DEFAULT)
try:
    FULL = make(PRESET, **OVERRIDES)  # validates every override (unknown fields, bad values)
except ValueError as err:
    _fail(str(err))
DEVICE = FULL.device
GPU = DEVICE.startswith("cuda")
MODELS = FULL.models_from or PRESET  # preset whose checkpoints the samples use
TRAINS = MODELS == PRESET  # quick (models_from=cpu) trains nothing

DATASETS = [str(d) for d in config.get("datasets", sg_datasets.PAPER_NAMES)]
for _d in DATASETS:
    if _d not in sg_datasets.NAMES:
        _fail(f"unknown data set {_d!r}; known: {', '.join(sg_datasets.NAMES)}")
try:
    WS = [str(float(w)) for w in config.get("w_r", list(W_R_VALUES))]
    SEEDS = [int(s) for s in config.get("seeds", [0])]
except (TypeError, ValueError) as err:
    _fail(f"w_r must be numbers and seeds integers ({err})")
if any(s < 0 for s in SEEDS) or len(set(SEEDS)) != len(SEEDS):
    _fail(f"seeds must be distinct non-negative integers, got {SEEDS}")
METHODS = [str(m) for m in config.get("methods", ["ode", "sde"])]
if not set(METHODS) <= {"ode", "sde"} or not METHODS:
    _fail(f"methods must be a subset of [ode, sde], got {METHODS}")
if set(METHODS) != {"ode", "sde"}:
    _fail("the W2² table needs both methods: methods: [ode, sde]")

THREADS = {"train": 2, "sample": 2, "truth": 1, "evaluate": 1, "notebook": 1, "book": 1}
THREADS.update({k: int(v) for k, v in (config.get("threads") or {}).items()})

# --- which configuration fields each step uses ----------------------------------------------------
STEP_FIELDS = provenance.STEP_FIELDS  # scoregap/provenance.py: the fields each step uses

def step_overrides(step, overrides=None, **extra):
    """The overrides a step uses (plus per-job fields like seed), sorted."""
    ov = OVERRIDES if overrides is None else overrides
    out = {k: v for k, v in ov.items() if k in STEP_FIELDS[step]}
    out.update({k: str(v) for k, v in extra.items() if v is not None})
    return dict(sorted(out.items()))


def set_args(step, overrides=None, **extra):
    """`--set k=v ...` for the CLI ('' when there is nothing to set); the last option of a command."""
    ov = step_overrides(step, overrides, **extra)
    return ("--set " + " ".join(shlex.quote(f"{k}={v}") for k, v in ov.items())) if ov else ""


def settings(step, preset=None, overrides=None, **extra):
    """The step's fully resolved configuration fields (JSON): reruns a step when a preset is edited."""
    preset = preset or PRESET
    ov = step_overrides(step, overrides, **extra)
    cfg = make(preset, **ov).to_dict()
    return json.dumps({k: cfg[k] for k in sorted(STEP_FIELDS[step])}, sort_keys=True)


# --- code the steps run --------------------------------------------------------------------------
# scoregap/provenance.py defines what each step runs (CODE) and its hash (the AST without docstrings, comments or layout).
CODE = provenance.CODE


def code_hash(step):
    try:
        return provenance.code_hash(step, ROOT / "scoregap")
    except ValueError as err:
        raise WorkflowError(str(err)) from None


CODE_HASH = {step: code_hash(step) for step in CODE}


def code_files(step):
    """The modules of CODE[step] as ancient inputs (documentation of the dependency; params carry the hash)."""
    files = sorted({f"scoregap/{spec.partition(':')[0]}" for spec in CODE[step]})
    return [ancient(f) for f in files]


# --- names -----------------------------------------------------------------------------------------
W_RE = r"[0-9]+\.[0-9]+"
DATASET_RE = "|".join(sg_datasets.NAMES)
MODEL_RE = rf"(?P<dataset>{DATASET_RE})_w(?P<w>{W_RE})(?:_s(?P<seed>[1-9][0-9]*))?"


def model_file(dataset, w, seed=0):
    """Checkpoint base name: <dataset>_w<w> (seed 0, the shipped name) or <dataset>_w<w>_s<seed>."""
    return model_name(dataset, w) + (f"_s{int(seed)}" if int(seed) else "")


def run_dir(seed):
    """data/results/<preset>[/s<seed>]: where one training seed's samples and table live."""
    return f"data/results/{PRESET}" + (f"/s{int(seed)}" if int(seed) else "")


def parse_model(name):
    m = re.fullmatch(MODEL_RE, name)
    if not m:
        raise WorkflowError(f"not a model name: {name!r}")
    return m["dataset"], m["w"], int(m["seed"] or 0)


def seed_of_run(run):
    m = re.fullmatch(rf"{re.escape(PRESET)}(?:/s([1-9][0-9]*))?", run)
    if not m:
        raise WorkflowError(f"not a result folder of preset {PRESET}: data/results/{run}")
    return int(m[1] or 0)


def checkpoint(dataset, w, seed=0):
    """Checkpoint file of one model (in the models preset: cpu for quick)."""
    path = f"data/checkpoints/{MODELS}/{model_file(dataset, w, seed)}.pt"
    if not TRAINS and not os.path.exists(path):
        raise WorkflowError(
            f"preset {PRESET} trains nothing and samples the {MODELS} checkpoints, but {path} is missing.\n"
            f"Train it first (snakemake --cores 2 --config preset={MODELS} ...), or use the checkpoints shipped "
            f"with the repository (git checkout -- data/checkpoints/{MODELS}).")
    return path


# Monte Carlo floor of the W2² tables: pairs of exact samples per data set (evaluate --floor-repeats);
# null: the CLI's default.
FLOOR_REPEATS = config.get("floor_repeats")
FLOOR_ARG = "" if FLOOR_REPEATS is None else f"--floor-repeats {int(FLOOR_REPEATS)}"

# Bootstrap replicates per W2² entry (evaluate --bootstrap B --bootstrap-seed S): the 95 % intervals, standard errors and
# bias-corrected values of the tables.  null: the preset's default below (quick is kept small so the CI book stays fast).
# B is set by cost: each replicate is one exact 4096-point OT solve (≈ 1 s at 20 000 samples, ≈ 4 s at 10⁶ on one core),
# so each 10⁶-sample table (cpu, published: 36 entries, 3 (B + 2) solves per row) at B = 8 takes 30–45 min of
# one core (evaluate --threads 2: 29 min for the cpu models, whose histograms are more spread).
BOOTSTRAP_DEFAULT = {"quick": 20, "cpu": 8, "paper": 16}
PUBLISHED_BOOTSTRAP_DEFAULT = 8
BOOTSTRAP_SEED = int(config.get("bootstrap_seed", 0) or 0)


def bootstrap_arg(preset, key="bootstrap", default=None):
    value = config.get(key)
    b = (default if default is not None else BOOTSTRAP_DEFAULT.get(preset, 16)) if value is None else value
    try:
        b = int(b)
    except (TypeError, ValueError):
        _fail(f"{key} must be an integer (0: no intervals, or >= 2 bootstrap replicates), not {value!r}")
    if b < 0 or b == 1:
        _fail(f"{key} must be 0 (no intervals) or >= 2 bootstrap replicates, not {b}")
    return f"--bootstrap {b} --bootstrap-seed {BOOTSTRAP_SEED}"


BOOTSTRAP_ARG = bootstrap_arg(PRESET)

# The table of the configured grid: w2.csv for the full grid (the shipped name), w2_<datasets>_w<w_r values>.csv for
# another one, so a smaller or different request never passes for (or overwrites) the full table.
FULL_GRID = DATASETS == list(sg_datasets.PAPER_NAMES) and WS == [str(float(w)) for w in W_R_VALUES]
GRID_SUFFIX = "" if FULL_GRID else f"_{'-'.join(DATASETS)}_w{'-'.join(WS)}"
TABLES = [f"{run_dir(s)}/w2{GRID_SUFFIX}.csv" for s in SEEDS]

REFERENCE_DIR = str(config.get("reference_dir") or os.environ.get("SCOREGAP_REFERENCE_DIR", "") or "")


def made_here(path):
    """Whether this checkout's Snakemake has a record of having made `path` (.snakemake/metadata)."""
    try:
        return workflow.persistence.metadata(_IOFile(str(path), None)) is not None
    except Exception:  # no persistence (e.g. while listing rules): treat as not made here
        return False


# Rules upstream of each rule that makes data inputs (for --forcerun, below).
UPSTREAM_RULES = {"train": set(), "truth": set(), "sample": {"train"}, "published_samples": set(), "published_truth": set()}


def forced(path, producer):
    """Whether --forcerun/-R/--forceall names `path`, the rule that makes it, or a rule upstream of that."""
    try:
        dag = workflow.dag_settings
        names = set(dag.forcerun or ())
        return bool(dag.forceall) or path in names or bool(names & ({producer} | UPSTREAM_RULES[producer]))
    except Exception:
        return False


def data(path, producer):
    """A data input made by rule `producer`: ancient() unless Snakemake made it here (then mtime and
    checksums apply), a forced rerun remakes it (then the rerun must reach the jobs downstream) or it does not
    exist yet (then the job that makes it reruns everything downstream: a requested model is made)."""
    return path if made_here(path) or forced(path, producer) or not os.path.exists(path) else ancient(path)


def _digest(*parts):
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _sidecar_sha(path):
    """The sha256 recorded next to a file by scoregap (its content), or 'missing'."""
    try:
        return "sha256:" + Path(path + ".sha256").read_text().split()[0]
    except (OSError, IndexError):
        return "missing"


def train_fingerprint(seed=0):
    return _digest("train", settings("train", seed=seed or None), CODE_HASH["train"])


def model_fingerprint(dataset, w, seed=0):
    """What a checkpoint is: the description of its train job, or, for checkpoints this preset does not
    train (quick samples the cpu ones), their recorded sha256 (read now: no job of this run writes them)."""
    if TRAINS:
        return train_fingerprint(seed)
    return _sidecar_sha(checkpoint(dataset, w, seed))


def sample_fingerprint(dataset, w, seed=0):
    return _digest("sample", settings("sample"), CODE_HASH["sample"], model_fingerprint(dataset, w, seed))


def truth_fingerprint(preset=None, overrides=None):
    return _digest("truth", settings("truth", preset, overrides), CODE_HASH["truth"])


def gpu_resources():
    return {"gpu": 1} if GPU else {}
