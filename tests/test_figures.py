"""Figure regression at the CI preset: every figure of every chapter against data/figure_refs/quick.

Each notebook is executed with papermill at the `quick` preset into a temporary folder (or, when the workflow has
already executed it at that preset (book/executed/ci) from the current sources and data, its saved figures in
book/executed/figures/quick are reused). Every saved figure is compared with its reference: all numbers within their
Monte Carlo-derived tolerances and the image within its RMS tolerance (data/figure_refs/tolerances.json). One line is
printed per figure (name, PASS/FAIL, largest difference); a changed figure fails the test naming the figure.
After an intended change: `make update-references` (python -m scoregap.figures update-references).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scoregap import book_layout, figures

REF = figures.REF_DIR / figures.CI_PRESET
EXECUTED = book_layout.executed_dir(figures.CI_PRESET)  # the CI book's executed notebooks
FIGDIR = figures.ROOT / "book" / "executed" / "figures" / figures.CI_PRESET
CHECKPOINTS = figures.ROOT / "data" / "checkpoints" / "cpu"

pytestmark = pytest.mark.slow


def _fresh_workflow_output(notebook: str) -> Path | None:
    """book/executed/figures/quick if it holds this notebook's figures made from the current sources and data."""
    figdir = FIGDIR
    ipynb = EXECUTED / f"{notebook}.ipynb"
    names = figures.figures_of(notebook, figdir) if figdir.is_dir() else []
    if not names or not ipynb.is_file():
        return None
    params = json.loads(ipynb.read_text()).get("metadata", {}).get("papermill", {}).get("parameters", {})
    if params.get("preset") != figures.CI_PRESET or params.get("seed", figures.DEFAULT_SEED) != figures.DEFAULT_SEED:
        return None
    want = figures.source_hash(notebook)
    for n in names:
        meta = json.loads((figdir / f"{n}.json").read_text()).get("meta", {})
        if meta.get("source_hash") != want or meta.get("seed") != figures.DEFAULT_SEED or meta.get("preset") != figures.CI_PRESET:
            return None
    if set(figures.figures_of(notebook, REF)) - set(names):
        return None
    return figdir


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    """Shared temporary folders of this test run (the recomputed samples are cached across chapters)."""
    root = tmp_path_factory.mktemp("figure_run")
    return {"figures": root / "figures", "executed": root / "executed", "cache": root / "cache"}


@pytest.fixture(scope="session")
def executed(run_dir):
    done = {}

    def get(notebook: str) -> tuple[Path, Path, str]:
        if notebook not in done:
            reuse = _fresh_workflow_output(notebook)
            if reuse is not None:
                done[notebook] = (reuse, EXECUTED / f"{notebook}.ipynb", "reused workflow output")
            else:
                old = os.environ.get("SCOREGAP_THREADS")
                os.environ["SCOREGAP_THREADS"] = os.environ.get("SCOREGAP_TEST_THREADS", "1")
                try:
                    r = figures.execute_notebook(notebook, run_dir["executed"], parameters={"preset": figures.CI_PRESET},
                                                 figure_dir=run_dir["figures"], cache_dir=run_dir["cache"])
                finally:
                    if old is None:
                        os.environ.pop("SCOREGAP_THREADS", None)
                    else:
                        os.environ["SCOREGAP_THREADS"] = old
                done[notebook] = (run_dir["figures"], Path(r["path"]), f"executed in {r['seconds']:.0f} s")
        return done[notebook]

    return get


@pytest.mark.parametrize("notebook", figures.NOTEBOOKS)
def test_figures_match_references(notebook, executed):
    if not any(CHECKPOINTS.glob("*.pt")):
        pytest.skip(f"the shipped models are missing ({CHECKPOINTS.relative_to(figures.ROOT)}/*.pt): the quick preset reuses them")
    if not REF.is_dir():
        pytest.fail(f"no reference figures in {REF}: run `make update-references`")
    figdir, ipynb, how = executed(notebook)
    problems = figures.output_problems(ipynb)
    assert not problems, f"{notebook}: cells printed errors or warnings: " + "; ".join(problems)
    names = sorted(set(figures.figures_of(notebook, REF)) | set(figures.figures_of(notebook, figdir)))
    print(f"\n{notebook} ({how}):")
    tol = figures.load_tolerances(figures.TOLERANCE_FILE)
    results = [figures.compare(n, figdir, REF, tol) for n in names]
    for r in results:
        print("  " + r.line())
    changed = [r for r in results if not r.passed]
    assert not changed, f"{len(changed)} changed figure(s) in {notebook}: " + " | ".join(r.line() for r in changed)


def test_tolerances_are_justified():
    """Every reference figure has a tolerance entry with its justification, and every Monte Carlo figure its noise file."""
    if not REF.is_dir():
        pytest.skip("no reference figures yet")
    tol = figures.load_tolerances(figures.TOLERANCE_FILE)
    for n in figures.figure_names(REF):
        entry = tol.get("figures", {}).get(n)
        assert entry and entry.get("justification"), f"figure {n} has no justified tolerance in {figures.TOLERANCE_FILE.name}"
        if "Monte Carlo figure" in entry["justification"]:
            assert (REF / f"{n}.noise.json").is_file(), f"figure {n}: measured noise file missing"


def test_compare_detects_a_changed_figure(tmp_path):
    """The comparison itself: identical files pass, a changed number or image fails and names the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ref, new = tmp_path / "ref", tmp_path / "new"
    for d, value in ((ref, 1.0), (new, 1.0)):
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, value])
        figures.save_figure("demo", fig, {"a": [value, 2.0]}, d)
        plt.close(fig)
    tol = {"default": {"sigma_fraction": 0.5, "rtol": 1e-6, "atol": 0.0, "rms": 0.1}, "figures": {}}
    same = figures.compare("demo", new, ref, tol)
    assert same.passed and same.largest_difference == 0 and same.image_rms == 0
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [0, 0.5])
    figures.save_figure("demo", fig, {"a": [1.1, 2.0]}, new)
    plt.close(fig)
    changed = figures.compare("demo", new, ref, tol)
    assert not changed.passed and changed.name == "demo"
    assert abs(changed.largest_difference - 0.1) < 1e-12 and changed.largest_key == "a[0]"
    assert changed.image_rms > 0.1
    assert "demo: FAIL" in changed.line()


def _cells(notebook: str):
    import jupytext

    return jupytext.read(figures.NOTEBOOK_DIR / f"{notebook}.md").cells


@pytest.mark.parametrize("notebook", figures.NOTEBOOKS)
def test_notebook_structure(notebook):
    """A `parameters` cell, right after it a cell validating through config.make, and a caption on every figure cell."""
    code = [c for c in _cells(notebook) if c.cell_type == "code"]
    tags = [c.metadata.get("tags", []) for c in code]
    first = next((i for i, t in enumerate(tags) if "parameters" in t), None)
    assert first is not None, f"{notebook}: no cell tagged `parameters`"
    assert "config.make(" in code[first + 1].source and "book.setup(" in code[first + 1].source, \
        f"{notebook}: the cell after `parameters` must validate them through config.make / book.setup"
    for c in code:
        if "B.save(" in c.source:
            caption = c.metadata.get("mystnb", {}).get("figure", {}).get("caption", "")
            assert caption.strip(), f"{notebook}: a figure cell has no caption: {c.source[:80]!r}"
        assert "progress=True" not in c.source, f"{notebook}: progress bars must stay off in the book"


@pytest.mark.parametrize("bad, message", [
    ({"preset": "fast"}, "invalid preset='fast'"),
    ({"datasets": ["moons"]}, "invalid dataset='moons'"),
    ({"datasets": "checker"}, "invalid datasets='checker'"),
    ({"w_values": [-1.0]}, "invalid w_r=-1.0"),
    ({"n_samples": 0}, "invalid n_samples=0"),
    ({"nfe": 5}, "nfe"),
    ({"device": "tpu"}, "invalid device='tpu'"),
    ({"recompute": "yes"}, "invalid recompute='yes'"),
    ({"reference_dir": "/nonexistent/ODESDEGap"}, "invalid reference_dir"),
])
def test_bad_parameters_fail_fast(bad, message):
    from scoregap import book

    kwargs = {"preset": "quick", "datasets": ["checker"], "w_values": [0.0], "n_samples": 1000, "nfe": 50, **bad}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        book.setup("closing_the_gap", **kwargs)


def test_agreement_plot_labels_only_minor_ticks_at_2_and_5():
    """The log–log agreement scatter labels its minor ticks at 2 and 5 × 10^k only (all eight overlapped)."""
    import numpy as np

    from scoregap import plots

    assert [plots._minor_log_labels(v) for v in (2e-3, 3e-3, 5e-2, 7e-2)] == [r"$2\times10^{-3}$", "", r"$5\times10^{-2}$", ""]
    x = np.geomspace(1.7e-3, 3.3e-2, 12)
    fig = plots.agreement(x, 1.05 * x, ["a", "b", "c"] * 4, "paper", "ours")
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].xaxis.get_minorticklabels() if t.get_text()]
    assert labels and all(lab.startswith(("$2", "$5")) for lab in labels), labels
