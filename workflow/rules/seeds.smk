# The seed study (book chapter notebooks/robustness.md; target `seed_study`): how much do the distances vary between
# networks trained with other seeds, and how do they move along training?  Sizes and models: config `seed_study`
# (defaults: scoregap.seeds.SeedStudy), the rest is the configured preset's (cpu: the shipped models).
#
#   data/checkpoints/<preset>/<dataset>_w<w>_s<seed>.pt            rule train; rule train_snapshots for the runs that keep
#   data/checkpoints/<preset>/<dataset>_w<w>_s<seed>.step<k>.pt      snapshots (snapshot_seeds × snapshot_datasets)
#   data/results/<preset>/seeds/truth/truth_<dataset>.npz          rule seed_truth  (thinned from the preset's truth)
#   data/results/<preset>/seeds/s0/<dataset>_w<w>_<method>.npz     rule seed_thin   (thinned from the shipped samples)
#   data/results/<preset>/seeds/s<seed>/<dataset>_w<w>_<method>.npz rule seed_sample (seeds >= 1, n_samples per sampler)
#   data/results/<preset>/w2_seeds.csv, w2_seeds_summary.csv        rule seed_table
#   data/results/<preset>/curve/truth/truth_<dataset>.npz          rule curve_truth (thinned from the preset's truth)
#   data/results/<preset>/curve/<model>.step<k>_<method>.npz        rule curve_sample (curve_samples per sampler)
#   data/results/<preset>/training_curve.csv                        rule training_curve
#
# Thinning (python -m scoregap thin) keeps a uniformly random subset of a file's samples, exactly, from its counts
# (metrics.thin_counts), so the shipped 10⁶-sample seed-0 files and truth enter at the study's size without resampling.
# The study's sample and truth settings are its own (config seed_study), not `overrides`: the shipped files of the
# preset stay what they are.  Like every rule, files from git are ancient() inputs (common.smk).

from scoregap import seeds as sg_seeds
from scoregap.training import snapshot_steps

try:
    STUDY = sg_seeds.study(**(config.get("seed_study") or {}))
except (TypeError, ValueError) as err:
    _fail(str(err))

SEED_RESULTS = f"data/results/{PRESET}"
SEED_DIR = f"{SEED_RESULTS}/seeds"
CURVE_DIR = f"{SEED_RESULTS}/curve"
SEED_TABLE = f"{SEED_RESULTS}/{sg_seeds.SEED_TABLE_FILE}"
SEED_SUMMARY = f"{SEED_RESULTS}/{sg_seeds.SEED_SUMMARY_FILE}"
CURVE_CSV = f"{SEED_RESULTS}/{sg_seeds.CURVE_FILE}"
STUDY_DATASETS = list(STUDY.datasets)
STUDY_WS = [str(float(w)) for w in STUDY.w_r]
SNAPSHOT_STEPS = snapshot_steps(FULL.steps, STUDY.snapshots)
SEED_SETS = _with_device({"n_samples": str(STUDY.n_samples)}, DEVICE_DEFAULT)
CURVE_SETS = _with_device({"n_samples": str(STUDY.curve_samples)}, DEVICE_DEFAULT)

# the code each step runs (thin, seed_table, training_curve): provenance.CODE, hashed into CODE_HASH (common.smk)
UPSTREAM_RULES.update({"train_snapshots": set(), "seed_truth": {"truth"}, "seed_thin": {"sample", "train"},
                       "seed_sample": {"train", "train_snapshots"}, "curve_truth": {"truth"},
                       "curve_sample": {"train", "train_snapshots"}})

_SNAP_SEEDS = "|".join(str(s) for s in STUDY.snapshot_seeds) or "(?!)"
_SNAP_DATASETS = "|".join(STUDY.snapshot_datasets) or "(?!)"
SNAPSHOT_MODEL_RE = rf"(?:{_SNAP_DATASETS})_w{W_RE}_s(?:{_SNAP_SEEDS})"


def study_checkpoint(dataset, w, seed):
    """A model of the study as a data input (made by train, or by train_snapshots when it keeps snapshots)."""
    rule_name = "train_snapshots" if seed and STUDY.keeps_snapshots(dataset, seed) else "train"
    return data(checkpoint(dataset, w, seed), rule_name)


def thin_fingerprint(n):
    return _digest("thin", n, STUDY.thin_seed, CODE_HASH["thin"])


def _need_training_preset(wc=None):
    if not TRAINS:
        _fail(f"the seed study samples models of a training preset (cpu, paper), not {PRESET} (which reuses the "
              f"{MODELS} checkpoints); the book reads the shipped {MODELS} tables under {PRESET}")
    return []


use rule train as train_snapshots with:
    output:
        pt="data/checkpoints/{preset}/{model}.pt",
        sha="data/checkpoints/{preset}/{model}.pt.sha256",
        log="data/checkpoints/{preset}/{model}.csv",
        snaps=[f"data/checkpoints/{{preset}}/{{model}}.step{k}.pt" for k in SNAPSHOT_STEPS],
        snap_shas=[f"data/checkpoints/{{preset}}/{{model}}.step{k}.pt.sha256" for k in SNAPSHOT_STEPS],
    wildcard_constraints:
        preset=re.escape(PRESET) if TRAINS and SNAPSHOT_STEPS else "(?!)",
        model=SNAPSHOT_MODEL_RE,
    params:
        snapshots=STUDY.snapshots,


ruleorder: train_snapshots > train


rule seed_truth:
    """Exact data samples at the study's size: a uniformly random subset of the preset's truth sample."""
    input:
        src=lambda wc: data(f"{SEED_RESULTS}/truth/truth_{wc.dataset}.npz", "truth"),
        code=code_files("thin"),
    output:
        npz=f"{SEED_DIR}/truth/truth_{{dataset}}.npz",
        sha=f"{SEED_DIR}/truth/truth_{{dataset}}.npz.sha256",
    wildcard_constraints:
        dataset=DATASET_RE,
    params:
        n=STUDY.n_samples,
        seed=STUDY.thin_seed,
        code=CODE_HASH["thin"],
        upstream=truth_fingerprint(),
    log:
        f"logs/{PRESET}/seeds/truth_{{dataset}}.log",
    shell:
        "{PYTHON} -m scoregap thin --preset {PRESET} --source {input.src} --n {params.n} --seed {params.seed}"
        " --out {output.npz} > {log} 2>&1"


rule seed_thin:
    """Seed 0 at the study's size: a uniformly random subset of the preset's (shipped) samples of the model."""
    input:
        src=lambda wc: data(f"{SEED_RESULTS}/samples/{wc.dataset}_w{wc.w}_{wc.method}.npz", "sample"),
        code=code_files("thin"),
    output:
        npz=f"{SEED_DIR}/s0/{{dataset}}_w{{w}}_{{method}}.npz",
        sha=f"{SEED_DIR}/s0/{{dataset}}_w{{w}}_{{method}}.npz.sha256",
    wildcard_constraints:
        dataset=DATASET_RE,
        w=W_RE,
        method="ode|sde",
    params:
        n=STUDY.n_samples,
        seed=STUDY.thin_seed,
        code=CODE_HASH["thin"],
        upstream=lambda wc: sample_fingerprint(wc.dataset, wc.w, 0),
    log:
        f"logs/{PRESET}/seeds/s0_{{dataset}}_w{{w}}_{{method}}.log",
    shell:
        "{PYTHON} -m scoregap thin --preset {PRESET} --source {input.src} --n {params.n} --seed {params.seed}"
        " --out {output.npz} > {log} 2>&1"


rule seed_sample:
    """A model of another training seed sampled with one sampler at the study's size."""
    input:
        ckpt=lambda wc: study_checkpoint(wc.dataset, wc.w, int(wc.seed)),
        code=code_files("sample"),
    output:
        npz=f"{SEED_DIR}/s{{seed}}/{{dataset}}_w{{w}}_{{method}}.npz",
        sha=f"{SEED_DIR}/s{{seed}}/{{dataset}}_w{{w}}_{{method}}.npz.sha256",
    wildcard_constraints:
        seed="[1-9][0-9]*",
        dataset=DATASET_RE,
        w=W_RE,
        method="ode|sde",
    params:
        sets=set_args("sample", SEED_SETS),
        settings=settings("sample", PRESET, SEED_SETS),
        code=CODE_HASH["sample"],
        upstream=lambda wc: model_fingerprint(wc.dataset, wc.w, int(wc.seed)),
    log:
        f"logs/{PRESET}/seeds/s{{seed}}_{{dataset}}_w{{w}}_{{method}}.log",
    threads: THREADS["sample"]
    resources:
        **gpu_resources(),
    shell:
        "{PYTHON} -m scoregap sample --preset {PRESET} --checkpoint {input.ckpt} --method {wildcards.method}"
        " --out {output.npz} --no-progress --threads {threads} {params.sets} > {log} 2>&1"


def seed_table_inputs(wc):
    _need_training_preset()
    samples = [f"{SEED_DIR}/s{s}/{d}_w{w}_{m}.npz" for s in STUDY.all_seeds for d in STUDY_DATASETS for w in STUDY_WS for m in METHODS]
    return {
        "samples": [data(f, "seed_thin" if "/s0/" in f else "seed_sample") for f in samples],
        "truth": [data(f"{SEED_DIR}/truth/truth_{d}.npz", "seed_truth") for d in STUDY_DATASETS],
        "ckpts": [study_checkpoint(d, w, s) for s in STUDY.all_seeds for d in STUDY_DATASETS for w in STUDY_WS],
    }


rule seed_table:
    """W2² (+ bootstrap intervals, FP residual, floor) of every seed's models at one sample size, and the summary over seeds."""
    input:
        unpack(seed_table_inputs),
        code=code_files("seed_table"),
    output:
        csv=SEED_TABLE,
        summary=SEED_SUMMARY,
    params:
        args=(f"--seeds {' '.join(str(s) for s in STUDY.all_seeds)} --dataset {' '.join(STUDY_DATASETS)} --w-r {' '.join(STUDY_WS)}"
              f" --bootstrap {STUDY.bootstrap} --bootstrap-seed {BOOTSTRAP_SEED} {FLOOR_ARG}"),
        n=STUDY.n_samples,
        code=CODE_HASH["seed_table"],
        upstream=lambda wc: _digest([sample_fingerprint(d, w, 0) for d in STUDY_DATASETS for w in STUDY_WS],
                                    [_digest(settings("sample", PRESET, SEED_SETS), CODE_HASH["sample"], model_fingerprint(d, w, s))
                                     for s in STUDY.seeds for d in STUDY_DATASETS for w in STUDY_WS],
                                    truth_fingerprint(), thin_fingerprint(STUDY.n_samples)),
    log:
        f"logs/{PRESET}/seeds/seed_table.log",
    threads: THREADS["evaluate"]
    shell:
        "{PYTHON} -m scoregap seed-table --preset {PRESET} --seed-dir {SEED_DIR} --checkpoint-dir data/checkpoints/{MODELS}"
        " {params.args} --out {output.csv} --summary {output.summary} --threads {threads} --set n_samples={params.n} > {log} 2>&1"


rule curve_truth:
    """Exact data samples at the curve's size: a uniformly random subset of the preset's truth sample."""
    input:
        src=lambda wc: data(f"{SEED_RESULTS}/truth/truth_{wc.dataset}.npz", "truth"),
        code=code_files("thin"),
    output:
        npz=f"{CURVE_DIR}/truth/truth_{{dataset}}.npz",
        sha=f"{CURVE_DIR}/truth/truth_{{dataset}}.npz.sha256",
    wildcard_constraints:
        dataset=DATASET_RE,
    params:
        n=STUDY.curve_samples,
        seed=STUDY.thin_seed,
        code=CODE_HASH["thin"],
        upstream=truth_fingerprint(),
    log:
        f"logs/{PRESET}/curve/truth_{{dataset}}.log",
    shell:
        "{PYTHON} -m scoregap thin --preset {PRESET} --source {input.src} --n {params.n} --seed {params.seed}"
        " --out {output.npz} > {log} 2>&1"


rule curve_sample:
    """One snapshot sampled with one sampler at the curve's size."""
    input:
        ckpt=lambda wc: data(f"data/checkpoints/{PRESET}/{wc.model}.step{wc.step}.pt", "train_snapshots"),
        code=code_files("sample"),
    output:
        npz=f"{CURVE_DIR}/{{model}}.step{{step}}_{{method}}.npz",
        sha=f"{CURVE_DIR}/{{model}}.step{{step}}_{{method}}.npz.sha256",
    wildcard_constraints:
        model=SNAPSHOT_MODEL_RE,
        step="[0-9]+",
        method="ode|sde",
    params:
        sets=set_args("sample", CURVE_SETS),
        settings=settings("sample", PRESET, CURVE_SETS),
        code=CODE_HASH["sample"],
        upstream=lambda wc: _digest(train_fingerprint(parse_model(wc.model)[2]), wc.step),
    log:
        f"logs/{PRESET}/curve/{{model}}.step{{step}}_{{method}}.log",
    threads: THREADS["sample"]
    resources:
        **gpu_resources(),
    shell:
        "{PYTHON} -m scoregap sample --preset {PRESET} --checkpoint {input.ckpt} --method {wildcards.method}"
        " --out {output.npz} --no-progress --threads {threads} {params.sets} > {log} 2>&1"


CURVE_SNAPSHOTS = [f"data/checkpoints/{PRESET}/{sg_seeds.snapshot_name(d, w, s, k)}" for d, w, s in STUDY.snapshot_models()
                   for k in SNAPSHOT_STEPS]


def training_curve_inputs(wc):
    _need_training_preset()
    if not CURVE_SNAPSHOTS:
        _fail("seed_study: no snapshots to evaluate (snapshots: 0, or no snapshot_seeds / snapshot_datasets)")
    return {
        "ckpts": [data(f, "train_snapshots") for f in CURVE_SNAPSHOTS],
        "samples": [data(f"{CURVE_DIR}/{sg_seeds.snapshot_sample_name(f, m)}", "curve_sample") for f in CURVE_SNAPSHOTS for m in METHODS],
        "truth": [data(f"{CURVE_DIR}/truth/truth_{d}.npz", "curve_truth") for d in STUDY.snapshot_datasets],
    }


rule training_curve:
    """W2² ODE–truth, SDE–truth, ODE–SDE and the FP residual of every snapshot, against training samples seen."""
    input:
        unpack(training_curve_inputs),
        code=code_files("training_curve"),
    output:
        csv=CURVE_CSV,
    params:
        n=STUDY.curve_samples,
        floor=FLOOR_ARG,
        code=CODE_HASH["training_curve"],
        upstream=lambda wc: _digest(settings("sample", PRESET, CURVE_SETS), CODE_HASH["sample"],
                                    [train_fingerprint(s) for s in STUDY.snapshot_seeds], SNAPSHOT_STEPS,
                                    truth_fingerprint(), thin_fingerprint(STUDY.curve_samples)),
    log:
        f"logs/{PRESET}/curve/training_curve.log",
    threads: THREADS["evaluate"]
    shell:
        "{PYTHON} -m scoregap training-curve --preset {PRESET} --checkpoint {input.ckpts} --curve-dir {CURVE_DIR} {params.floor}"
        " --out {output.csv} --threads {threads} --set n_samples={params.n} > {log} 2>&1"


rule seed_study:
    """The seed table, its summary and the training curve (trains the study's models when they are missing)."""
    input:
        SEED_TABLE,
        SEED_SUMMARY,
        CURVE_CSV,
