"""The Snakemake workflow (workflow/Snakefile): real runs of every experiment rule on tiny models, rerun
behaviour (nothing to do after a run, overrides and code changes rerun exactly the affected jobs),
a fresh `git clone` counts the shipped results as up to date, and the same sweep through Slurm gives
the same histograms as a local run.

Everything runs in temporary copies of the repository: nothing under data/ of the checkout is read or
written.  The tiny models are trained by the workflow itself (preset cpu, 150 steps); the quick-preset
runs sample them as if they were the shipped cpu checkpoints.

The Slurm test needs a running cluster (`sudo bash .ci/slurm-setup.sh` starts a one-node cluster on
this machine) and skips with the reason otherwise.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
COPY = ["scoregap", "workflow", "config", "profiles", ".ci", "pyproject.toml", ".gitignore", "_toc.yml", "data/paper_numbers.json"]

GRID = ["datasets=[checker]", "w_r=[0.0,0.1]"]
TABLE = "w2_checker_w0.0-0.1.csv"
"""The table of GRID (a grid other than the paper's has a table of its own name)."""
# One thread per job: on a small shared machine, two OpenMP threads per job were 10x slower.
THREADS = ["threads={train: 1, sample: 1, truth: 1, evaluate: 1}"]
TINY_TRAIN = "steps=150 dsm_batch=500 fp_batch=200 checkpoint_every=150 log_every=50 lrs=0.01,0.003,0.001"
TINY_SAMPLE = "n_samples=2000 nfe=100"
FLOOR = ["floor_repeats=1"]

if not SNAKEMAKE.exists():  # pragma: no cover
    pytest.skip(f"snakemake is not installed next to {sys.executable}", allow_module_level=True)


def _env():
    env = dict(os.environ)
    env.pop("SCOREGAP_REFERENCE_DIR", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def smk(workdir: Path, *args: str, timeout: float = 600, check: bool = True) -> str:
    """Run snakemake in `workdir`; returns stdout + stderr."""
    cmd = [str(SNAKEMAKE), *args]
    t0 = time.time()
    p = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=_env())
    out = p.stdout + p.stderr
    print(f"[{time.time() - t0:.0f} s] snakemake {' '.join(args)}")
    if check and p.returncode != 0:
        logs = "".join(f"\n--- {f}\n{f.read_text()[-2000:]}" for f in sorted((workdir / "logs").rglob("*.log")))
        raise AssertionError(f"snakemake failed ({p.returncode}):\n{out[-6000:]}{logs}")
    return out


def config(preset: str, overrides: str, *extra: str) -> list[str]:
    return ["--config", f"preset={preset}", f"overrides={overrides}", *GRID, *THREADS, *FLOOR, *extra]


def job_counts(out: str) -> dict[str, int]:
    """Rule → job count from a dry run's 'Job stats' table ({} when there is nothing to do)."""
    if "Nothing to be done" in out:
        return {}
    m = re.search(r"Job stats:\n(.*?)\n\s*\n", out, re.S)
    assert m, f"no job stats in:\n{out[-3000:]}"
    counts = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def copy_repo(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in COPY:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def histograms(root: Path, run: str) -> dict[str, np.ndarray]:
    out = {}
    for f in sorted((root / "data" / "results" / run).rglob("*.npz")):
        with np.load(f, allow_pickle=False) as z:
            out[str(f.relative_to(root / "data" / "results" / run))] = z["hist"].copy()
    return out


# --- the tiny cpu experiment (trains through the workflow) ------------------------------------------
@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    """A repository copy in which the workflow trained, sampled and evaluated two tiny cpu models."""
    root = copy_repo(tmp_path_factory.mktemp("wf") / "repo")
    t0 = time.time()
    smk(root, "--cores", "2", *config("cpu", f"{TINY_TRAIN} {TINY_SAMPLE}"))
    print(f"cpu run (2 × train, truth, 4 × sample, evaluate): {time.time() - t0:.0f} s")
    return root


def test_cpu_run_makes_every_file(cpu_run):
    ck = cpu_run / "data" / "checkpoints" / "cpu"
    for w in ("0.0", "0.1"):
        for suffix in (".pt", ".pt.sha256", ".csv"):
            assert (ck / f"checker_w{w}{suffix}").is_file()
        assert not (ck / f"checker_w{w}.state.pt").exists()
        for m in ("ode", "sde"):
            assert (cpu_run / f"data/results/cpu/samples/checker_w{w}_{m}.npz.sha256").is_file()
    assert (cpu_run / "data/results/cpu/truth/truth_checker.npz").is_file()
    rows = (cpu_run / f"data/results/cpu/{TABLE}").read_text().splitlines()
    assert rows[0].startswith("dataset,w_r,ode_truth") and len(rows) == 3
    assert {r.split(",")[1] for r in rows[1:]} == {"0", "0.1"} or {r.split(",")[1] for r in rows[1:]} == {"0.0", "0.1"}


def test_rerun_policy(cpu_run):
    """Nothing to do after a run; each override reruns only the jobs that use it; code: AST, not comments."""
    ov = f"{TINY_TRAIN} {TINY_SAMPLE}"
    assert job_counts(smk(cpu_run, "-n", *config("cpu", ov))) == {}
    # a sampling setting: samples and table, not training or truth
    assert job_counts(smk(cpu_run, "-n", *config("cpu", f"{TINY_TRAIN} n_samples=2000 nfe=90"))) == \
        {"sample": 4, "evaluate": 1, "all": 1}
    # n_samples is also the truth's sample size
    assert job_counts(smk(cpu_run, "-n", *config("cpu", f"{TINY_TRAIN} n_samples=2500 nfe=100"))) == \
        {"truth": 1, "sample": 4, "evaluate": 1, "all": 1}
    # a training setting: everything downstream of the two models, not the truth
    assert job_counts(smk(cpu_run, "-n", *config("cpu", f"{TINY_TRAIN.replace('steps=150', 'steps=160')} {TINY_SAMPLE}"))) == \
        {"train": 2, "sample": 4, "evaluate": 1, "all": 1}
    # code: a comment changes nothing, a code change reruns the steps that run that module
    samplers = cpu_run / "scoregap" / "samplers.py"
    original = samplers.read_text()
    try:
        samplers.write_text(original + "\n# a comment only\n")
        assert job_counts(smk(cpu_run, "-n", *config("cpu", ov))) == {}
        samplers.write_text(original + "\n\ndef _workflow_test_change():\n    return 1\n")
        assert job_counts(smk(cpu_run, "-n", *config("cpu", ov))) == {"sample": 4, "evaluate": 1, "all": 1}
    finally:
        samplers.write_text(original)
    assert job_counts(smk(cpu_run, "-n", *config("cpu", ov))) == {}


def test_interrupted_run_still_reruns_downstream(cpu_run, tmp_path):
    """Without the mtime trigger, a run stopped after retraining must still resample next time: the
    samples' params carry a hash of their model's training settings ('upstream')."""
    root = tmp_path / "repo"
    shutil.copytree(cpu_run, root, symlinks=True)
    ov = f"{TINY_TRAIN.replace('steps=150', 'steps=155')} {TINY_SAMPLE}"
    smk(root, "--cores", "2", "data/checkpoints/cpu/checker_w0.0.pt", *config("cpu", ov))  # only one model retrained
    assert job_counts(smk(root, "-n", *config("cpu", ov))) == {"train": 1, "sample": 4, "evaluate": 1, "all": 1}


def test_fresh_clone_counts_shipped_results_as_up_to_date(cpu_run, tmp_path):
    """After `git clone` (new mtimes in any order) the committed results need nothing, even when every
    input is newer than every output."""
    src = tmp_path / "origin"
    shutil.copytree(cpu_run, src, ignore=shutil.ignore_patterns(".snakemake", "logs"))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=src, check=True)
    subprocess.run([*git, "add", "-A", "-f", "."], cwd=src, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "fixture"], cwd=src, check=True)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(src), str(clone)], check=True)
    assert (clone / f"data/results/cpu/{TABLE}").is_file() and not (clone / ".snakemake").exists()
    # worst case: the table oldest, then samples/truth, then checkpoints, the code newest
    now = time.time()
    order = [(f"data/results/cpu/{TABLE}", 0), ("data/results/cpu/samples", 10), ("data/results/cpu/truth", 10),
             ("data/checkpoints/cpu", 20), ("scoregap", 30), ("config", 30), ("workflow", 30)]
    for rel, age in order:
        p = clone / rel
        for f in ([p] if p.is_file() else p.rglob("*")):
            os.utime(f, (now - 1000 + age, now - 1000 + age))
    out = smk(clone, "-n", "--config", "preset=cpu", *GRID)
    assert "Nothing to be done" in out, out[-3000:]
    # a forced rerun still reaches everything downstream (and nothing else)
    assert job_counts(smk(clone, "-n", "--forcerun", "sample", "--config", "preset=cpu", *GRID)) == \
        {"sample": 4, "evaluate": 1, "all": 1}


# --- quick preset: local and through Slurm -----------------------------------------------------------
def _quick_copy(cpu_run: Path, dest: Path) -> Path:
    root = copy_repo(dest)
    shutil.copytree(cpu_run / "data" / "checkpoints", root / "data" / "checkpoints")
    return root


@pytest.fixture(scope="module")
def quick_local(cpu_run, tmp_path_factory):
    root = _quick_copy(cpu_run, tmp_path_factory.mktemp("wf") / "local")
    t0 = time.time()
    smk(root, "--cores", "2", *config("quick", TINY_SAMPLE))
    print(f"quick run, local (truth, 4 × sample, evaluate): {time.time() - t0:.0f} s")
    return root


def test_quick_local_run_and_rerun(quick_local):
    assert (quick_local / f"data/results/quick/{TABLE}").is_file()
    assert not (quick_local / "data/checkpoints/quick").exists()  # quick trains nothing
    assert job_counts(smk(quick_local, "-n", *config("quick", TINY_SAMPLE))) == {}
    assert job_counts(smk(quick_local, "-n", *config("quick", "n_samples=2000 nfe=120"))) == {"sample": 4, "evaluate": 1, "all": 1}
    # overrides as a mapping mean the same
    assert job_counts(smk(quick_local, "-n", "--config", "preset=quick", "overrides={n_samples: 2000, nfe: 100}",
                          *GRID, *THREADS, *FLOOR)) == {}
    # quick samples checkpoints it does not make: a replaced checkpoint (new sha256) reruns its samples
    ck = quick_local / "data" / "checkpoints" / "cpu"
    saved = {f: f.read_bytes() for f in ck.glob("checker_w0.0.pt*")}
    try:
        for suffix in (".pt", ".pt.sha256"):
            shutil.copy2(ck / f"checker_w0.1{suffix}", ck / f"checker_w0.0{suffix}")
        assert job_counts(smk(quick_local, "-n", *config("quick", TINY_SAMPLE))) == {"sample": 2, "evaluate": 1, "all": 1}
    finally:
        for f, b in saved.items():
            f.write_bytes(b)
    assert job_counts(smk(quick_local, "-n", *config("quick", TINY_SAMPLE))) == {}


def test_quick_without_cpu_checkpoints_explains(tmp_path):
    root = copy_repo(tmp_path / "repo")
    out = smk(root, "-n", *config("quick", TINY_SAMPLE), check=False)
    assert "trains nothing and samples the cpu checkpoints" in out


def test_published_needs_reference_dir(tmp_path):
    root = copy_repo(tmp_path / "repo")
    out = smk(root, "--cores", "1", "published", check=False)
    assert "SCOREGAP_REFERENCE_DIR" in out and "authors' release" in out.replace("'\"'\"'", "'")


def _slurm_up() -> str:
    for tool in ("sbatch", "sinfo", "squeue"):
        if shutil.which(tool) is None:
            return f"{tool} not found (start a one-node cluster with `sudo bash .ci/slurm-setup.sh`)"
    try:
        p = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "sinfo timed out: no Slurm controller answering"
    if p.returncode != 0:
        return f"sinfo failed: {p.stderr.strip()[:200]} (start the cluster with `sudo bash .ci/slurm-setup.sh`)"
    if not re.search(r"^(idle|mixed|allocated)", p.stdout, re.M):
        return f"no usable Slurm node (sinfo: {p.stdout.strip()[:200]!r})"
    return ""


def test_slurm_run_equals_local_run(quick_local, cpu_run, tmp_path):
    reason = _slurm_up()
    if reason:
        pytest.skip(reason)
    root = _quick_copy(cpu_run, tmp_path / "slurm")
    t0 = time.time()
    out = smk(root, "--executor", "slurm", "--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "5",
              *config("quick", TINY_SAMPLE), timeout=300)
    print(f"quick run through Slurm (6 jobs): {time.time() - t0:.0f} s")
    # every job of the experiment went through sbatch
    submitted = re.findall(r"has been submitted with SLURM jobid (\d+)", out)
    logs = sorted((root / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len(submitted) == 6, out[-4000:]
    assert len(logs) == 6 and {p.relative_to(root / ".snakemake" / "slurm_logs").parts[0] for p in logs} == \
        {"rule_sample", "rule_truth", "rule_evaluate"}, logs
    # same histograms as the local run
    local, slurm = histograms(quick_local, "quick"), histograms(root, "quick")
    assert sorted(local) == sorted(slurm) and len(local) == 5
    for name in local:
        np.testing.assert_allclose(slurm[name], local[name], rtol=0, atol=1e-12, err_msg=name)
    assert job_counts(smk(root, "-n", *config("quick", TINY_SAMPLE))) == {}


# --- the book rules on a toy book ----------------------------------------------------------------------
TOY_NOTEBOOK = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3 (ipykernel), language: python, name: python3}
---

# Toy chapter

```{code-cell} ipython3
:tags: [parameters]

preset = "cpu"
extra = 0
```

```{code-cell} ipython3
import os
print(f"preset={preset} extra={extra} cwd={os.path.basename(os.getcwd())} threads={os.environ.get('SCOREGAP_THREADS')}")
```
"""


def test_book_rules_execute_notebooks_with_papermill_and_build(tmp_path):
    """execute_notebook (jupytext + papermill with the config's parameters) and book (Jupyter Book 1)."""
    root = copy_repo(tmp_path / "repo")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "toy.md").write_text(TOY_NOTEBOOK)
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# Toy book\n\nIntro.\n")
    (root / "_config.yml").write_text('title: toy\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: "off"\n')
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/executed/toy\n")
    cfg = ["--config", "preset=quick", "notebook_params={extra: 7}"]
    smk(root, "--cores", "1", "book", *cfg)
    executed = (root / "book" / "executed" / "ci" / "toy.ipynb").read_text()  # the CI preset's own folders
    assert "preset=quick extra=7 cwd=notebooks threads=1" in executed
    ci_html = root / "book" / "_build" / "ci" / "_build" / "html"
    assert (ci_html / "index.html").is_file()
    assert (ci_html / "book" / "executed" / "toy.html").is_file()
    assert not (root / "book" / "executed" / "toy.ipynb").exists() and not (root / "book" / "_build" / "html").exists()
    assert job_counts(smk(root, "-n", "book", *cfg)) == {}
    assert job_counts(smk(root, "-n", "book", "--config", "preset=quick", "notebook_params={extra: 8}")) == \
        {"execute_notebook": 1, "book": 1}
