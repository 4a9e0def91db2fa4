# The solver study (book chapter notebooks/solver_study.md): is the ODE–SDE gap a discretisation artefact?
#
#   data/results/<models>/solver_study.csv     rule solver_study (target: `snakemake --cores 1 solver_study`)
#
# W2² ODE–SDE and to the truth against steps for Euler, Heun, dopri5 (ODE) and Euler–Maruyama (SDE), for
# the checkerboard's exact score and the <models> checkpoints checker_w0.0 and checker_w10.0 (<models>: the
# preset whose checkpoints the configured preset uses; cpu for cpu and quick).  Not part of `all`: the
# chapter lists the CSV as its input (presets other than quick), so `snakemake book` makes it when missing.
# Its sizes come from config solver_study (not from the preset: the study is CPU-sized at every preset) and
# are its `settings` param; like every rule, files from git are ancient() inputs (common.smk), so the shipped
# CSV is up to date in a fresh clone.

SOLVER_STUDY_DEFAULTS = {"n_samples": 20_000, "steps": [25, 50, 100, 200, 400], "heun_steps": [25, 50, 100, 200],
                         "paper_nfe": 800, "rtol": [1e-2, 1e-3, 1e-4, 1e-5], "seed": 0, "floor_repeats": 16}
_ss_config = dict(config.get("solver_study") or {})
_ss_unknown = sorted(set(_ss_config) - set(SOLVER_STUDY_DEFAULTS))
if _ss_unknown:
    _fail(f"solver_study: unknown key(s) {', '.join(_ss_unknown)}; known: {', '.join(SOLVER_STUDY_DEFAULTS)}")
SOLVER_STUDY = {**SOLVER_STUDY_DEFAULTS, **_ss_config}
try:
    SOLVER_STUDY = {"n_samples": int(SOLVER_STUDY["n_samples"]), "steps": [int(k) for k in SOLVER_STUDY["steps"]],
                    "heun_steps": [int(k) for k in SOLVER_STUDY["heun_steps"] or []], "paper_nfe": int(SOLVER_STUDY["paper_nfe"]),
                    "rtol": [float(r) for r in SOLVER_STUDY["rtol"]], "seed": int(SOLVER_STUDY["seed"]),
                    "floor_repeats": int(SOLVER_STUDY["floor_repeats"])}
except (TypeError, ValueError) as err:
    _fail(f"solver_study: n_samples, paper_nfe, seed, floor_repeats must be integers, steps/heun_steps lists of integers, "
          f"rtol a list of numbers ({err})")
SOLVER_STUDY_MODELS = [("checker", "0.0"), ("checker", "10.0")]
SOLVER_STUDY_CSV = f"data/results/{MODELS}/solver_study.csv"

# CODE_HASH["solver_study"]: the code of the study (scoregap/provenance.py CODE), hashed in common.smk.


def solver_study_args():
    s = SOLVER_STUDY
    heun = " ".join(str(k) for k in s["heun_steps"])
    return (f"--n-samples {s['n_samples']} --steps {' '.join(str(k) for k in s['steps'])} --heun-steps {heun}"
            f" --paper-nfe {s['paper_nfe']} --rtol {' '.join(repr(r) for r in s['rtol'])} --seed {s['seed']}"
            f" --floor-repeats {s['floor_repeats']}")


rule solver_study:
    """W2² ODE–SDE vs steps for Euler, Heun, dopri5 and Euler–Maruyama: exact score, w_R = 0 and w_R = 10 checkerboard models."""
    input:
        ckpts=lambda wc: [data(checkpoint(d, w), "train") for d, w in SOLVER_STUDY_MODELS],
        shas=lambda wc: [data(checkpoint(d, w) + ".sha256", "train") for d, w in SOLVER_STUDY_MODELS],
        code=code_files("solver_study"),
    output:
        csv=SOLVER_STUDY_CSV,
    params:
        args=solver_study_args(),
        settings=json.dumps(SOLVER_STUDY, sort_keys=True),
        code=CODE_HASH["solver_study"],
        upstream=lambda wc: _digest([model_fingerprint(d, w) for d, w in SOLVER_STUDY_MODELS]),
    log:
        f"logs/{MODELS}/solver_study.log",
    threads: THREADS.get("solver_study", 1)
    shell:
        "{PYTHON} -m scoregap solver-study --dataset checker --checkpoint {input.ckpts} {params.args}"
        " --out {output.csv} --no-progress --threads {threads} > {log} 2>&1"
