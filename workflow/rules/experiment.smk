# The experiment of the configured preset: train → sample (ODE, SDE), truth → W2² table.
#
#   data/checkpoints/<preset>/<dataset>_w<w>[_s<seed>].pt  (+ .pt.sha256, + .csv loss log)   rule train
#   data/results/<preset>[/s<seed>]/samples/<dataset>_w<w>_<method>.npz (+ .sha256)          rule sample
#   data/results/<preset>/truth/truth_<dataset>.npz (+ .sha256)                               rule truth
#   data/results/<preset>[/s<seed>]/w2.csv                                                    rule evaluate
#
# Only the configured preset's files can be made (wildcards are constrained to it), so the overrides
# always belong to the preset that names the folder.  A preset with models_from (quick) has no train
# job: it samples data/checkpoints/<models_from>/.


rule train:
    """Train one model: python -m scoregap train (resumes from <name>.state.pt after an interruption)."""
    input:
        code=code_files("train"),
    output:
        pt="data/checkpoints/{preset}/{model}.pt",
        sha="data/checkpoints/{preset}/{model}.pt.sha256",
        log="data/checkpoints/{preset}/{model}.csv",
    wildcard_constraints:
        preset=re.escape(PRESET) if TRAINS else "(?!)",
        model=MODEL_RE.replace("?P<dataset>", "?:").replace("?P<w>", "?:").replace("?P<seed>", "?:"),
    params:
        preset=PRESET,
        dataset=lambda wc: parse_model(wc.model)[0],
        w=lambda wc: parse_model(wc.model)[1],
        sets=lambda wc: set_args("train", seed=parse_model(wc.model)[2] or None),
        settings=lambda wc: settings("train", seed=parse_model(wc.model)[2] or None),
        code=CODE_HASH["train"],
        snapshots=0,  # train_snapshots (workflow/rules/seeds.smk): the runs that keep snapshots along training
    log:
        "logs/{preset}/train/{model}.log",
    threads: THREADS["train"]
    resources:
        **gpu_resources(),
    shell:
        "{PYTHON} -m scoregap train --preset {params.preset} --dataset {params.dataset} --w-r {params.w}"
        " --out {output.pt} --no-progress --threads {threads} --snapshots {params.snapshots} {params.sets} > {log} 2>&1"


rule sample:
    """Sample one model with one sampler; write its 64×64 histogram (+ subsample) to an npz."""
    input:
        ckpt=lambda wc: data(checkpoint(wc.dataset, wc.w, seed_of_run(wc.run)), "train"),
        sha=lambda wc: data(checkpoint(wc.dataset, wc.w, seed_of_run(wc.run)) + ".sha256", "train"),
        code=code_files("sample"),
    output:
        npz="data/results/{run}/samples/{dataset}_w{w}_{method}.npz",
        sha="data/results/{run}/samples/{dataset}_w{w}_{method}.npz.sha256",
    wildcard_constraints:
        run=rf"{re.escape(PRESET)}(/s[1-9][0-9]*)?",
        dataset=DATASET_RE,
        w=W_RE,
        method="ode|sde",
    params:
        preset=PRESET,
        sets=set_args("sample"),
        settings=settings("sample"),
        code=CODE_HASH["sample"],
        upstream=lambda wc: model_fingerprint(wc.dataset, wc.w, seed_of_run(wc.run)),
    log:
        "logs/{run}/sample/{dataset}_w{w}_{method}.log",
    threads: THREADS["sample"]
    resources:
        **gpu_resources(),
    shell:
        "{PYTHON} -m scoregap sample --preset {params.preset} --checkpoint {input.ckpt} --method {wildcards.method}"
        " --out {output.npz} --no-progress --threads {threads} {params.sets} > {log} 2>&1"


rule truth:
    """Histogram of exact data samples (the reference of every W2²)."""
    input:
        code=code_files("truth"),
    output:
        npz="data/results/{preset}/truth/truth_{dataset}.npz",
        sha="data/results/{preset}/truth/truth_{dataset}.npz.sha256",
    wildcard_constraints:
        preset=re.escape(PRESET),
        dataset=DATASET_RE,
    params:
        preset=PRESET,
        sets=set_args("truth"),
        settings=settings("truth"),
        code=CODE_HASH["truth"],
    log:
        "logs/{preset}/truth/{dataset}.log",
    threads: THREADS["truth"]
    shell:
        "{PYTHON} -m scoregap truth --preset {params.preset} --dataset {wildcards.dataset} --out {output.npz}"
        " --no-progress --threads {threads} {params.sets} > {log} 2>&1"


def evaluate_inputs(wc):
    seed = seed_of_run(wc.run)
    files = {
        "samples": [data(f"data/results/{wc.run}/samples/{d}_w{w}_{m}.npz", "sample") for d in DATASETS for w in WS for m in METHODS],
        "truth": [data(f"data/results/{PRESET}/truth/truth_{d}.npz", "truth") for d in DATASETS],
        # seed 0 only: evaluate finds <checkpoint-dir>/<dataset>_w<w>.pt (no seed suffix), see docs/workflow.md
        "ckpts": [data(checkpoint(d, w), "train") for d in DATASETS for w in WS] if seed == 0 else [],
    }
    return files


def evaluate_checkpoint_arg(wc):
    return f"--checkpoint-dir data/checkpoints/{MODELS}" if seed_of_run(wc.run) == 0 else ""


rule evaluate:
    """W2² ODE–truth, SDE–truth, ODE–SDE (+ bootstrap intervals, sliced W2², FP residual) for the model grid → CSV table."""
    input:
        unpack(evaluate_inputs),
        code=code_files("evaluate"),
    output:
        csv=f"data/results/{{run}}/w2{GRID_SUFFIX}.csv",
    wildcard_constraints:
        run=rf"{re.escape(PRESET)}(/s[1-9][0-9]*)?",
    params:
        preset=PRESET,
        sets=set_args("evaluate"),
        datasets=" ".join(DATASETS),
        ws=" ".join(WS),
        checkpoints=evaluate_checkpoint_arg,
        floor=FLOOR_ARG,
        bootstrap=BOOTSTRAP_ARG,
        code=CODE_HASH["evaluate"],
        upstream=lambda wc: _digest([sample_fingerprint(d, w, seed_of_run(wc.run)) for d in DATASETS for w in WS], truth_fingerprint()),
    log:
        f"logs/{{run}}/evaluate{GRID_SUFFIX}.log",
    threads: THREADS["evaluate"]
    shell:
        "{PYTHON} -m scoregap evaluate --preset {params.preset} --samples-dir data/results/{wildcards.run}/samples"
        " --truth-dir data/results/{params.preset}/truth {params.checkpoints}"
        " --dataset {params.datasets} --w-r {params.ws} {params.floor} {params.bootstrap} --out {output.csv} --threads {threads} {params.sets} > {log} 2>&1"
