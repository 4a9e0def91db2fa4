"""The book's build: no build date, byte-identical HTML from the same sources, the CI book in folders of its own.

`make book` builds the reader's book (book/executed, book/_build/html); `make test` builds the CI preset's book
(book/executed/ci, book/_build/ci/_build/html) and must leave the reader's book as it was (scoregap/book_layout.py).
"""
from __future__ import annotations

import filecmp
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from scoregap import book_layout
from scoregap.figures import CI_PRESET

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CI_EXECUTED = book_layout.executed_dir(CI_PRESET)
CI_HTML = book_layout.html_dir(CI_PRESET)

# Files of the HTML folder that may differ between two builds of the same sources (path relative to the folder, why).
# Empty: Sphinx 7.4 / Jupyter Book 1 write every page, the search index, objects.inv and .buildinfo deterministically
# once html_last_updated_fmt is unset; a new entry must say why the difference cannot be avoided.
BUILD_DIFFERENCES_ALLOWED: dict[str, str] = {}


def _toc_notebooks() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for c in toc.get("chapters", [])]
    return [f.rsplit("/", 1)[-1] for f in files if f.startswith("book/executed/")]


def test_pages_carry_no_build_date():
    """html_last_updated_fmt is unset (any value, even "", prints the build date in every footer)."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx_cfg = (cfg.get("sphinx") or {}).get("config") or {}
    assert "html_last_updated_fmt" not in sphinx_cfg and "html_last_updated_fmt" not in (cfg.get("html") or {})
    if (CI_HTML / "index.html").is_file():
        dated = [p.name for p in CI_HTML.rglob("*.html") if "Last updated on" in p.read_text(encoding="utf-8")]
        assert not dated, f"pages with a build date: {dated}"


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths of files that differ or exist on one side only, below two folders."""
    out = []

    def walk(cmp: filecmp.dircmp, rel: str) -> None:
        out.extend(f"{rel}{n} (only in one build)" for n in cmp.left_only + cmp.right_only)
        out.extend(f"{rel}{n}" for n in cmp.diff_files + cmp.funny_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{rel}{name}/")

    walk(filecmp.dircmp(a, b, ignore=[]), "")
    return sorted(out)


def _build(src: Path, out: Path) -> Path:
    book_layout.stage_sources(src, CI_EXECUTED, ROOT)
    r = subprocess.run([str(BIN / "jupyter-book"), "build", str(src), "--path-output", str(out)], capture_output=True,
                       text=True, timeout=900)
    html = out / "_build" / "html"
    assert r.returncode == 0 and (html / "index.html").is_file(), f"jupyter-book build failed:\n{r.stdout[-3000:]}"
    return html


@pytest.mark.slow
def test_two_builds_of_the_same_sources_give_identical_html(tmp_path):
    """The Sphinx step run again, elsewhere, from the CI book's executed notebooks gives the same bytes (except the
    listed files); compared with `make test`'s CI book when that is newer than all its sources, else with a second build."""
    names = _toc_notebooks()
    missing = [n for n in names if not (CI_EXECUTED / f"{n}.ipynb").is_file()]
    if missing:
        pytest.skip(f"the CI book's notebooks are not executed ({missing} missing in {CI_EXECUTED}; `make test` does it)")
    first = _build(tmp_path / "a" / "src", tmp_path / "a")
    sources = [ROOT / "_config.yml", ROOT / "_toc.yml", *(ROOT / "book").glob("*.*"),
               *(CI_EXECUTED / f"{n}.ipynb" for n in names)]
    built = CI_HTML / "index.html"
    if built.is_file() and built.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        second = CI_HTML
    else:
        second = _build(tmp_path / "b" / "src", tmp_path / "b")
    diff = [d for d in _differences(first, second) if d.split(" ")[0] not in BUILD_DIFFERENCES_ALLOWED
            and not d.startswith("screenshots/")]
    assert not diff, f"two builds differ in {len(diff)} files: {diff[:20]}"


def test_ci_book_has_folders_of_its_own():
    """The CI preset executes and builds outside the reader's book; every other preset builds the reader's book."""
    assert CI_EXECUTED != book_layout.executed_dir("cpu") and CI_HTML != book_layout.html_dir("cpu")
    assert book_layout.html_dir("cpu") == ROOT / "book" / "_build" / "html"
    assert ROOT / "book" / "_build" not in CI_EXECUTED.parents
    for preset in ("cpu", "paper"):
        assert book_layout.executed_dir(preset) != CI_EXECUTED and book_layout.html_dir(preset) != CI_HTML


@pytest.mark.slow
def test_make_test_leaves_the_readers_book_alone():
    """`make test`'s book step (snakemake book at the CI preset), dry-run with every job forced, writes nothing in
    book/_build/html and no executed notebook of the reader's book; its Makefile recipe names no such path."""
    r = subprocess.run([str(BIN / "snakemake"), "-n", "--forceall", "book", "--cores", "1", "--config", f"preset={CI_PRESET}"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    outputs = re.findall(r"^\s*output:\s*(.+)$", r.stdout, re.M)
    files = [f.strip() for line in outputs for f in line.split(",")]
    assert any(f.startswith("book/executed/ci/") for f in files), files
    reader = [f for f in files if f.startswith("book/_build/html") or re.fullmatch(r"book/executed/[^/]+\.ipynb", f)]
    assert not reader, f"the CI book's jobs would write the reader's book: {reader}"
    recipe = (ROOT / "Makefile").read_text().split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "book/_build/html" not in recipe and "book/executed" not in recipe


def test_intro_chapter_table_describes_exactly_the_chapters_of_the_toc():
    """The intro's chapter-table rows come from _toc.yml, and every chapter there has exactly one description."""
    from scoregap import sphinx_chapters

    body = re.search(r"```\{chapter-table\}\n(.*?)```", (ROOT / "book" / "intro.md").read_text(), re.S)
    assert body, "book/intro.md has no chapter-table"
    described = yaml.safe_load(body.group(1))
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [c["file"] for c in toc["chapters"]]
    assert sphinx_chapters.mismatches(chapters, described) == []
    table = sphinx_chapters.table_markdown(chapters, described)
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == [f"/{c}" for c in chapters]
    assert sphinx_chapters.mismatches(chapters + ["book/executed/new_chapter"], described) != []
    assert sphinx_chapters.mismatches(chapters[1:], described) != []
