# The book: notebooks/<name>.md (Jupytext MyST) → book/executed/<name>.ipynb (papermill) → Jupyter Book 1.
#
# Each notebook is executed with its working directory notebooks/ (as when opened in Jupyter) and the
# papermill parameters {preset: <config preset>, **config notebook_params} injected after its cell tagged
# `parameters`; SCOREGAP_THREADS and OMP_NUM_THREADS are the job's threads.  The book is built from the executed notebooks:
# _toc.yml lists book/intro (root), book/executed/<name> and the hand-written pages book/<page>, and _config.yml turns
# execution off (execute: {execute_notebooks: "off"}) and sets only_build_toc_files: true.
#
# The reader's book and the CI book never share a folder (scoregap/book_layout.py): every preset but the CI one is
# executed into book/executed and built into book/_build/html; the CI preset (quick, `make test`) is executed into
# book/executed/ci and built into book/_build/ci/_build/html from book/_build/ci/src, a staged copy of the sources
# (links) whose book/executed is book/executed/ci.

from scoregap import book_layout
from scoregap import evaluation as sg_eval
from scoregap import figures as sg_figures
from scoregap.config import W_R_VALUES, model_name

PAPER_DATASETS = list(sg_datasets.PAPER_NAMES)
GRID = [(d, w) for d in PAPER_DATASETS for w in W_R_VALUES]  # the paper's model grid
ENDS = (W_R_VALUES[0], W_R_VALUES[-1])  # w_R = 0 and the largest
SAMPLERS = ("ode", "sde")
PAPER_NUMBERS = str(sg_eval.PAPER_NUMBERS.relative_to(sg_eval.ROOT))

# Data files each notebook reads: {"<name>": ["data/results/cpu/w2.csv", ...]}.  Paths are relative to
# the repository root; "{preset}" is replaced by the configured preset and "{models}" by the preset
# whose checkpoints it uses (cpu for quick).  A file listed here is made by the workflow if a rule
# makes it (so `snakemake book` first computes missing results), and a newer file re-executes the notebook.
NOTEBOOK_INPUTS = {
    # Filled in by the book's author. Checkpoints of the models a chapter loads ({models}); the cached results of
    # the preset ({models}: cpu for cpu, paper for paper) only where the chapter reads them, i.e. not at the CI
    # preset quick, whose chapters recompute small versions from the checkpoints instead. Optional files
    # (the authors'-network results, data/bench.json) are listed only when they exist.
    "true_dynamics": [],
    "neural_score": [f"data/checkpoints/{{models}}/{model_name(d, w)}.{ext}" for d, w in GRID for ext in ("pt", "csv")],
    "particle_dynamics": [f"data/checkpoints/{{models}}/{model_name('checker', w)}.pt" for w in ENDS]
    + ([f"data/results/{{models}}/samples/{sg_eval.sample_file_name('checker', w, m)}" for w in ENDS for m in SAMPLERS]
       + [f"data/results/{{models}}/truth/{sg_eval.truth_file_name('checker')}"] if PRESET != "quick" else []),
    "fp_residual_bound": [f"data/checkpoints/{{models}}/{model_name(d, w)}.pt" for d, w in GRID]
    + ([f"data/results/{{models}}/{sg_eval.TABLE_FILE}"]
       + [f"data/results/{{models}}/samples/{sg_eval.sample_file_name(d, w, 'sde')}" for d, w in GRID]
       + [f"data/results/{{models}}/truth/{sg_eval.truth_file_name(d)}" for d in PAPER_DATASETS] if PRESET != "quick" else []),
    "closing_the_gap": [PAPER_NUMBERS]
    + [f"data/checkpoints/{{models}}/{model_name(d, w)}.pt" for d, w in GRID]
    + ([f"data/results/{{models}}/{sg_eval.TABLE_FILE}"]
       + [f"data/results/{{models}}/samples/{sg_eval.sample_file_name(d, w, m)}" for d, w in GRID for m in SAMPLERS]
       if PRESET != "quick" else []),
    # The seed study's tables (workflow/rules/seeds.smk) only once they exist: `book` does not make a missing one (its
    # models take hours to train) and the chapter says which models are missing. Every preset reads the cpu tables.
    "robustness": [PAPER_NUMBERS, f"data/results/published/{sg_eval.TABLE_FILE}"]
    + [f for f in [f"data/results/{{models}}/{n}" for n in (sg_seeds.SEED_TABLE_FILE, sg_seeds.SEED_SUMMARY_FILE, sg_seeds.CURVE_FILE)]
       if os.path.exists(f.format(models=MODELS))],
    "published_networks": [PAPER_NUMBERS]
    + [f for f in [f"data/results/published/samples/{sg_eval.sample_file_name(d, w, m)}" for d, w in GRID for m in SAMPLERS]
       + [f"data/results/published/truth/{sg_eval.truth_file_name(d)}" for d in PAPER_DATASETS]
       + [f"data/results/published/{sg_eval.TABLE_FILE}",
          f"data/results/published/{sg_eval.TABLE_FILE.replace('.csv', sg_eval.COMPARISON_SUFFIX)}"]
       + [f"data/results/cpu/truth/{sg_eval.truth_file_name(d)}" for d in PAPER_DATASETS] if os.path.exists(f)],
    "solver_study": [f"data/checkpoints/{{models}}/{model_name('checker', w)}.pt" for w in ENDS]
    + (["data/results/{models}/solver_study.csv"] if PRESET != "quick" else []),
    # trains its three small models and diagnoses them live; the checkerboard check reads a checkpoint and two tables
    "diagnose": [PAPER_NUMBERS, f"data/checkpoints/{{models}}/{model_name('checker', 0.0)}.pt",
                 f"data/results/{{models}}/{sg_eval.TABLE_FILE}", f"data/results/published/{sg_eval.TABLE_FILE}"],
    "appendix": [f"data/checkpoints/{{models}}/{model_name(d, w)}.pt" for d, w in GRID]
    + [f for f in ["data/bench.json"] if os.path.exists(f)],
}

NOTEBOOKS = list(sg_figures.NOTEBOOKS)  # the chapters of _toc.yml, in reading order


def notebook_inputs(wc):
    return [f.format(preset=PRESET, models=MODELS) for f in NOTEBOOK_INPUTS.get(wc.name, [])]


def notebook_parameters():
    params = {"preset": PRESET}
    params.update(config.get("notebook_params") or {})
    return json.dumps(params, sort_keys=True)


EXECUTED = str(book_layout.executed_dir(PRESET, Path(".")))
BOOK_BUILD = str(book_layout.build_dir(PRESET, Path(".")))
BOOK_HTML = str(book_layout.html_dir(PRESET, Path(".")))
CI_BOOK = PRESET == book_layout.CI_PRESET


rule execute_notebook:
    """Convert a MyST notebook with jupytext and execute it with papermill."""
    input:
        notebook="notebooks/{name}.md",
        data=notebook_inputs,
    output:
        EXECUTED + "/{name}.ipynb",
    wildcard_constraints:
        name=r"[^/]+",
    params:
        parameters=notebook_parameters(),
    log:
        "logs/notebooks/" + ("ci/" if CI_BOOK else "") + "{name}.log",
    threads: THREADS["notebook"]
    shell:
        """
        tmp=$(mktemp --suffix=.ipynb)
        trap 'rm -f "$tmp"' EXIT
        {BIN}/jupytext --to ipynb --output "$tmp" {input.notebook} > {log} 2>&1
        OMP_NUM_THREADS={threads} SCOREGAP_THREADS={threads} SCOREGAP_FIGURE_DIR="$PWD/book/executed/figures/{PRESET}" {BIN}/papermill "$tmp" {output} --cwd notebooks --kernel python3 \
            --parameters_yaml {params.parameters:q} --no-progress-bar --log-output >> {log} 2>&1
        """


BOOK_SOURCES = ["book/intro.md", "_config.yml", "_toc.yml"]
# Other hand-written pages of the book (book/*.md) besides intro.md.
BOOK_PAGES = sorted(f"book/{p}.md" for p in glob_wildcards("book/{page}.md").page if "/" not in p and p != "intro")


rule book:
    """Build the HTML book from the executed notebooks (Jupyter Book 1, offline)."""
    input:
        notebooks=expand(EXECUTED + "/{name}.ipynb", name=NOTEBOOKS),
        sources=BOOK_SOURCES,
        pages=BOOK_PAGES,
        bib=[f for f in ("references.bib", "book/references.bib") if os.path.exists(f)],
    output:
        BOOK_HTML + "/index.html",
    params:
        src=BOOK_BUILD + "/src" if CI_BOOK else ".",
        stage="1" if CI_BOOK else "",
        out=BOOK_BUILD,
        executed=EXECUTED,
    log:
        "logs/book" + (".ci" if CI_BOOK else "") + ".log",
    threads: THREADS["book"]
    shell:
        """
        if [ -n "{params.stage}" ]; then {PYTHON} -m scoregap.book_layout {params.src} {params.executed}; fi
        {BIN}/jupyter-book build {params.src} --path-output {params.out} > {log} 2>&1 && touch {output}
        """
