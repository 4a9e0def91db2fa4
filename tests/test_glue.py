"""Every result number of the book's prose comes from the files.

(a) Each value a chapter glued (book/executed[/ci]/<chapter>.ipynb, present after a book build) equals the value
    recomputed from its source file by `scoregap.quantities`; every glue name is registered for its chapter, and
    every quantity a chapter's prose cites is glued there.
(b) No result-like number (a decimal, a percentage, a ratio "2×", "≈ 3", a mantissa × 10ⁿ, a grouped integer such
    as 20 000) is typed into the prose or a figure caption outside math, code and glue, except those listed in
    `quantities.TYPED`.
"""
from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest

from scoregap import book_layout, figures, quantities

ROOT = quantities.ROOT
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = {"reader": book_layout.executed_dir("cpu"), "ci": book_layout.executed_dir(figures.CI_PRESET)}
CHAPTERS = sorted(p.stem for p in NOTEBOOKS.glob("*.md"))
GLUE_PREFIX = "application/papermill.record/"
GLUE_ROLE = re.compile(r"\{glue(?::text|:any|)?\}`([^`:]+)(?::[^`]*)?`")


def glued_values(nb: dict) -> dict:
    """name → value of every glue record in an executed notebook (the text/plain form, read back as a literal)."""
    out = {}
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []):
            meta = o.get("metadata", {}).get("scrapbook")
            if not meta:
                continue
            data = o.get("data", {})
            text = data.get(meta.get("mime_prefix", "") + "text/plain", data.get(GLUE_PREFIX + "text/plain"))
            try:
                out[meta["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[meta["name"]] = text
    return out


def glue_mismatches(chapter: str, glued: dict, root: Path = ROOT) -> list[str]:
    """Every disagreement between a chapter's glued values and the registry (empty: all agree)."""
    bad = []
    for name, value in glued.items():
        q = quantities.REGISTRY.get(name)
        if q is None or q.chapter != chapter:
            bad.append(f"{chapter}: glued {name!r} is not a registered quantity of this chapter (scoregap/quantities.py)")
            continue
        if q.compute is None:
            if q.text:
                if not (isinstance(value, str) and value.strip()):
                    bad.append(f"{chapter}: {name} = {value!r} measured at run time is not a non-empty phrase")
            elif not (isinstance(value, (int, float)) and math.isfinite(value)):
                bad.append(f"{chapter}: {name} = {value!r} measured at run time is not a finite number")
            continue
        expected = quantities.compute(name, root)
        same = (value == expected if isinstance(expected, str) or isinstance(value, str)
                else math.isclose(float(value), float(expected), rel_tol=1e-9, abs_tol=0.0))
        if not same:
            bad.append(f"{chapter}: glued {name} = {value!r} but {q.source} gives {expected!r}")
    for name, q in quantities.REGISTRY.items():
        if q.chapter == chapter and name not in glued:
            bad.append(f"{chapter}: registered quantity {name!r} was not glued")
    return bad


def _strip(text: str, pattern: str, flags=0) -> str:
    return re.sub(pattern, lambda m: " " * len(m.group(0)), text, flags=flags)


def prose(md: str) -> str:
    """The reader-visible text of a MyST chapter: prose and figure captions, without code, math, roles or links."""
    out, lines, i = [], md.splitlines(), 0
    if lines and lines[0].strip() == "---":  # front matter
        i = lines.index("---", 1) + 1
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence, body = line, []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            if fence.startswith("```{code-cell}") and body and body[0].strip() == "---":  # figure captions in the cell header
                end = body.index("---", 1) if "---" in body[1:] else 0
                header = body[1:end]
                for k, h in enumerate(header):
                    if h.strip().startswith("caption:"):
                        ind = len(h) - len(h.lstrip())
                        for c in header[k + 1:]:
                            if len(c) - len(c.lstrip()) <= ind:
                                break
                            out.append(c)
            i += 1
            continue
        out.append(line)
        i += 1
    text = "\n".join(out)
    text = _strip(text, r"\$\$.*?\$\$(\s*\([^)]*\))?", re.S)  # display math and its label
    text = _strip(text, r"\$[^$\n]+\$")  # inline math
    text = _strip(text, r"\{[a-z:]+\}`[^`]*`")  # roles: {glue:text}, {eq}, {cite}, {numref}
    text = _strip(text, r"`[^`]*`")  # inline code
    text = _strip(text, r"\]\([^)]*\)")  # link targets
    text = _strip(text, r"^\([^)]*\)=\s*$", re.M)  # MyST labels
    return text


RESULT_LIKE = re.compile(
    r"\d+(?:\.\d+)?\s*×\s*10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+"  # mantissa × 10ⁿ
    r"|≈\s*\d[\d.]*"  # approximately a number
    r"|\d+(?:\.\d+)?\s*%"  # a percentage
    r"|\d+(?:\.\d+)?\s*×(?!\s*[\d(])"  # a ratio "1.5×" / "3 × the floor" (not "64 × 64", "3 × 10⁶")
    r"|\d+\.\d+"  # a decimal
    r"|\d{1,3}(?:[  ,]\d{3})+"  # a grouped integer (20 000)
)


def typed_numbers(md: str, chapter: str = "") -> list[str]:
    """Result-like numbers typed into a chapter's prose and not listed for it in quantities.TYPED."""
    return [m.group(0) for m in RESULT_LIKE.finditer(prose(md)) if (chapter, m.group(0)) not in quantities.TYPED]


@pytest.mark.parametrize("book", sorted(EXECUTED))
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_glued_values_match_their_files(chapter, book):
    path = EXECUTED[book] / f"{chapter}.ipynb"
    if not path.is_file():
        pytest.skip(f"{path.relative_to(ROOT)} not built (build the {book} book first)")
    bad = glue_mismatches(chapter, glued_values(json.loads(path.read_text())))
    assert not bad, f"{path.relative_to(ROOT)} (rebuild it if it is older than its chapter):\n" + "\n".join(bad)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_cited_quantities_are_registered(chapter):
    md = (NOTEBOOKS / f"{chapter}.md").read_text()
    names = set(GLUE_ROLE.findall(md))
    bad = [n for n in sorted(names) if n not in quantities.REGISTRY or quantities.REGISTRY[n].chapter != chapter]
    assert not bad, f"{chapter} cites quantities not registered for it in scoregap/quantities.py: {bad}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_result_typed_into_prose(chapter):
    found = typed_numbers((NOTEBOOKS / f"{chapter}.md").read_text(), chapter)
    assert not found, (f"{chapter}: result-like numbers typed into the prose (glue them via scoregap/quantities.py, "
                       f"or list a deliberate exception in quantities.TYPED): {found}")


def test_registry_is_computable():
    for name, q in quantities.REGISTRY.items():
        assert q.chapter in CHAPTERS, f"{name}: unknown chapter {q.chapter}"
        if q.compute is not None:
            assert (ROOT / q.source).is_file(), f"{name}: source {q.source} missing"
            v = quantities.compute(name)
            assert isinstance(v, str) or math.isfinite(v), f"{name} = {v}"


def test_detectors_catch_planted_defects():
    """The checks above can fail: a typed result, a wrong glued value, an unregistered glue name."""
    assert typed_numbers("Intro.\n\nThe floor is 7.7 × 10⁻³ and 9 % drop.\n") == ["7.7 × 10⁻³", "9 %"]
    assert typed_numbers("A ratio of 1.5× here; $x = 0.5$ and {glue:text}`n_ours:,` stay.\n") == ["1.5×"]
    name = "bootstrap_B"
    good = {n: quantities.compute(n) for n, q in quantities.REGISTRY.items() if q.chapter == "closing_the_gap"}
    assert glue_mismatches("closing_the_gap", good) == []
    assert glue_mismatches("closing_the_gap", {**good, name: good[name] * 2})
    assert glue_mismatches("closing_the_gap", {**good, "made_up": 1.0})
    assert glue_mismatches("closing_the_gap", {k: v for k, v in good.items() if k != name})
