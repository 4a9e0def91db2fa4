"""Equations have one name in code and book: every {eq}`label` a docstring cites is a labelled equation of a chapter,
the functions that implement the book's equations name them, and no docstring cites a file outside the repository."""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CITE = re.compile(r"\{eq\}`([^`]+)`")
"""How code cites an equation of the book: {eq}`label` (MyST's own role, so the same text works in a chapter)."""
LABEL = re.compile(r"^\$\$[ \t]*\(([\w-]+)\)[ \t]*$|^:label:[ \t]*([\w-]+)[ \t]*$", re.M)
"""A labelled equation of a chapter: `$$ ... $$ (label)` or a {math} directive's `:label: label`."""
DOC_FILE = re.compile(r"(?<![\w/.<{*-])((?:[\w.-]+/)*[\w-]+\.md)\b")
"""A document a docstring sends the reader to (README.md, notebooks/x.md, …): it must be a file of the repository."""
OUTSIDE = re.compile(r"PAPER\.md|FACTS\.md|(?<![\w.])/(?:work|home|tmp|root|Users)/")
"""Files that are never part of the repository: the project's private specification files and absolute paths."""

IMPLEMENTS = {
    "sde.kernel_var": "kernel", "sde.kernel_mean_coef": "kernel", "losses.dsm_loss": "dsm", "losses.fp_residual": "residual",
    "losses.mean_squared_residual": "residual", "metrics.w2_squared": "w2-metric", "metrics.noise_floor": "mc-floor",
    "evaluation.floor": "mc-floor", "evaluation.plugin_columns": "w2-metric", "bound.w2_bound": "w2-bound",
    "gaussian.coupling_bound": "coupling", "solvers.velocity": "pf-ode",
}
"""Functions that implement an equation of the book → the label their docstring must cite."""


def chapter_labels(folder: Path = ROOT) -> set[str]:
    """Labels of the equations in the chapters (notebooks/*.md) and the book's pages (book/*.md)."""
    out = set()
    for md in [*sorted((folder / "notebooks").glob("*.md")), *sorted((folder / "book").glob("*.md"))]:
        out |= {a or b for a, b in LABEL.findall(md.read_text())}
    return out


def code_files() -> list[Path]:
    return [*sorted((ROOT / "scoregap").glob("*.py")), *sorted((ROOT / "tests").glob("*.py")),
            *sorted((ROOT / "workflow").rglob("*.smk")), ROOT / "workflow" / "Snakefile"]


def docstrings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every docstring of a Python file (module, class, function; also bare string statements)."""
    if path.suffix != ".py":  # Snakemake files: their comments and triple-quoted strings
        text = path.read_text()
        return [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.lstrip().startswith("#")] + \
               [(text[:m.start()].count("\n") + 1, m.group(1)) for m in re.finditer(r'"""(.*?)"""', text, re.S)]
    tree = ast.parse(path.read_text())
    return [(n.lineno, n.value.value) for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)]


def unknown_citations(labels: set[str]) -> list[str]:
    bad = []
    for f in code_files():
        if f.name == Path(__file__).name:
            continue
        for line, text in docstrings(f):
            bad += [f"{f.relative_to(ROOT)}:{line}: {{eq}}`{c}`" for c in CITE.findall(text) if c not in labels]
    return bad


def test_every_cited_label_is_an_equation_of_a_chapter():
    labels = chapter_labels()
    assert {"kernel", "dsm", "residual", "w2-metric", "mc-floor", "w2-bound"} <= labels
    bad = unknown_citations(labels)
    assert not bad, "docstrings cite equations no chapter labels:\n" + "\n".join(bad)


def test_a_planted_bad_label_is_caught(tmp_path):
    """The check fails on a docstring citing a label that does not exist."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "c.md").write_text("$$\nx = 1\n$$ (good-one)\n\n```{math}\n:label: other\ny\n```\n")
    assert chapter_labels(tmp_path) == {"good-one", "other"}
    assert CITE.findall('"""Implements {eq}`good-one` and {eq}`no-such-label`."""') == ["good-one", "no-such-label"]
    assert "no-such-label" not in chapter_labels(tmp_path)


@pytest.mark.parametrize("qualname, label", sorted(IMPLEMENTS.items()))
def test_functions_that_implement_an_equation_name_it(qualname, label):
    mod, name = qualname.split(".")
    doc = getattr(importlib.import_module(f"scoregap.{mod}"), name).__doc__ or ""
    assert f"{{eq}}`{label}`" in doc, f"scoregap.{qualname} implements {{eq}}`{label}` but its docstring does not say so"


def outside_citations(files) -> list[str]:
    """Docstrings (and Snakemake comments) that cite a private file, an absolute path or a document that is not in the tree."""
    docs = {p.name for p in ROOT.rglob("*.md") if ".venv" not in p.parts and "_build" not in p.parts}
    bad = []
    for f in files:
        for line, text in docstrings(f):
            bad += [f"{f.name}:{line}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
            bad += [f"{f.name}:{line}: {m}" for m in DOC_FILE.findall(text)
                    if not OUTSIDE.search(m) and not (ROOT / m).exists() and Path(m).name not in docs]
    return bad


def test_no_docstring_cites_a_file_outside_the_repository():
    bad = outside_citations([f for f in code_files() if f.name != Path(__file__).name])
    assert not bad, "docstrings cite files outside the repository:\n" + "\n".join(bad)


def test_a_planted_outside_citation_is_caught(tmp_path):
    f = tmp_path / "planted.py"
    private = "PAPER" + ".md"  # a private specification file's name, assembled so this file does not cite it
    f.write_text(f'"""Kernel ({private}, level 1); see /home/user/x and NOWHERE.md; README.md is fine."""\n')
    got = outside_citations([f])
    assert [g.split(": ", 1)[1] for g in got] == [private, "/" + "home/", "NOWHERE.md"]
