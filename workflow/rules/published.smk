# The authors' published networks (GitHub teojd/ODESDEGap, Zenodo 15303316), target `published`:
#   data/results/published/samples/<dataset>_w<w>_<method>.npz   all 12 networks × ODE/SDE, one CLI call
#   data/results/published/truth/truth_<dataset>.npz
#   data/results/published/w2.csv (+ w2.comparison.json: against the authors' own histograms)
# and target `residuals`: data/results/residuals.csv (FP residual decomposition of the cpu and the
# published networks).
#
# The release is not ours and never part of the repository: its folder comes from config reference_dir
# or the environment variable SCOREGAP_REFERENCE_DIR.  It is deliberately neither an input nor a param
# (a fixed, immutable release; its location is machine-specific), so shipped results count as up to date
# with or without it; a job that has to run without it stops with an explanation.
# Sampled with config published_preset / published_overrides (the general `overrides` do not apply).

PUBLISHED_WS = [str(w) for w in W_R_VALUES]  # the paper's grid
PUBLISHED_DATASETS = [str(d) for d in config.get("published_datasets", sg_datasets.PAPER_NAMES)]
if not set(PUBLISHED_DATASETS) <= set(sg_datasets.PAPER_NAMES) or not PUBLISHED_DATASETS:
    _fail(f"published_datasets must be a subset of {list(sg_datasets.PAPER_NAMES)}")
PUBLISHED_PRESET = str(config.get("published_preset", "cpu"))
if PUBLISHED_PRESET not in PRESETS:
    _fail(f"published_preset={PUBLISHED_PRESET!r} is not one of {', '.join(PRESETS)}")
PUBLISHED_OVERRIDES = _with_device(parse_override_spec(config.get("published_overrides"), "published_overrides"), DEVICE_DEFAULT)
try:
    PUBLISHED_GPU = make(PUBLISHED_PRESET, **PUBLISHED_OVERRIDES).device.startswith("cuda")
except ValueError as err:
    _fail(f"published_overrides: {err}")

REFERENCE_MISSING = (
    "the authors' release is needed to make this file (weights/<dataset>_w<w>.npz and precomputed_dists/*.npy from "
    "GitHub teojd/ODESDEGap or Zenodo 15303316): set reference_dir in config/config.yaml, pass "
    "--config reference_dir=DIR, or export SCOREGAP_REFERENCE_DIR=DIR"
)
if REFERENCE_DIR and not (Path(REFERENCE_DIR) / "weights").is_dir():
    _fail(f"reference_dir {REFERENCE_DIR} has no weights/ folder; {REFERENCE_MISSING}")
# Shell prologue of every job that reads the release: without one, the job stops with the explanation.
NEED_REFERENCE = "" if REFERENCE_DIR else f"echo {shlex.quote('error: ' + REFERENCE_MISSING)} >&2; exit 1; "
REF = shlex.quote(REFERENCE_DIR)

PUBLISHED_SAMPLES = [f"data/results/published/samples/{d}_w{w}_{m}.npz" for d in PUBLISHED_DATASETS for w in PUBLISHED_WS for m in ("ode", "sde")]


rule published_samples:
    """Sample the 12 published networks with both samplers (the CLI's --published does all in one call;
    only the data sets of config published_datasets are declared outputs)."""
    input:
        code=code_files("sample"),
    output:
        npz=PUBLISHED_SAMPLES,
        sha=[f + ".sha256" for f in PUBLISHED_SAMPLES],
    params:
        preset=PUBLISHED_PRESET,
        sets=set_args("sample", PUBLISHED_OVERRIDES),
        settings=settings("sample", PUBLISHED_PRESET, PUBLISHED_OVERRIDES),
        code=CODE_HASH["sample"],
    log:
        "logs/published/samples.log",
    threads: THREADS["sample"]
    resources:
        **({"gpu": 1} if PUBLISHED_GPU else {}),
    shell:
        NEED_REFERENCE
        + "{PYTHON} -m scoregap sample --preset {params.preset} --published {REF} --method ode sde"
        " --out-dir data/results/published/samples --no-progress --threads {threads} {params.sets} > {log} 2>&1"


rule published_truth:
    input:
        code=code_files("truth"),
    output:
        npz="data/results/published/truth/truth_{dataset}.npz",
        sha="data/results/published/truth/truth_{dataset}.npz.sha256",
    wildcard_constraints:
        dataset=DATASET_RE,
    params:
        preset=PUBLISHED_PRESET,
        sets=set_args("truth", PUBLISHED_OVERRIDES),
        settings=settings("truth", PUBLISHED_PRESET, PUBLISHED_OVERRIDES),
        code=CODE_HASH["truth"],
    log:
        "logs/published/truth_{dataset}.log",
    threads: THREADS["truth"]
    shell:
        "{PYTHON} -m scoregap truth --preset {params.preset} --dataset {wildcards.dataset} --out {output.npz}"
        " --no-progress --threads {threads} {params.sets} > {log} 2>&1"


rule published_evaluate:
    """W2² table of the published networks and the comparison with the authors' own histograms."""
    input:
        samples=lambda wc: [data(f, "published_samples") for f in PUBLISHED_SAMPLES],
        truth=lambda wc: [data(f"data/results/published/truth/truth_{d}.npz", "published_truth") for d in PUBLISHED_DATASETS],
        code=code_files("evaluate"),
    output:
        csv="data/results/published/w2.csv",
        json="data/results/published/w2.comparison.json",
    params:
        preset=PUBLISHED_PRESET,
        sets=set_args("evaluate", PUBLISHED_OVERRIDES),
        datasets=" ".join(PUBLISHED_DATASETS),
        floor=FLOOR_ARG,
        bootstrap=bootstrap_arg(PUBLISHED_PRESET, "published_bootstrap", PUBLISHED_BOOTSTRAP_DEFAULT),
        code=CODE_HASH["evaluate"],
        upstream=_digest(settings("sample", PUBLISHED_PRESET, PUBLISHED_OVERRIDES), CODE_HASH["sample"],
                         truth_fingerprint(PUBLISHED_PRESET, PUBLISHED_OVERRIDES)),
    log:
        "logs/published/evaluate.log",
    threads: THREADS["evaluate"]
    shell:
        NEED_REFERENCE
        + "{PYTHON} -m scoregap evaluate --preset {params.preset} --published {REF}"
        " --samples-dir data/results/published/samples --truth-dir data/results/published/truth"
        " --dataset {params.datasets} {params.floor} {params.bootstrap} --out {output.csv} --threads {threads} {params.sets} > {log} 2>&1"


RESIDUAL_MODELS = [f"data/checkpoints/cpu/{d}_w{w}.pt" for d in sg_datasets.PAPER_NAMES for w in PUBLISHED_WS]


rule residuals:
    """FP-residual decomposition of the 12 cpu models and the 12 published networks (data/results/residuals.csv)."""
    input:
        ckpts=lambda wc: [data(f, "train") for f in RESIDUAL_MODELS],
        code=code_files("residuals"),
    output:
        csv="data/results/residuals.csv",
    params:
        code=CODE_HASH["residuals"],
        upstream=lambda wc: _digest([train_fingerprint() if PRESET == "cpu" and TRAINS else _sidecar_sha(f) for f in RESIDUAL_MODELS]),
    log:
        "logs/residuals.log",
    threads: THREADS["evaluate"]
    shell:
        NEED_REFERENCE
        + "{PYTHON} -m scoregap residuals --checkpoint-dir data/checkpoints/cpu --published {REF}"
        " --out {output.csv} --threads {threads} > {log} 2>&1"
