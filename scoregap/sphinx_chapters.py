"""Sphinx extension of the book: the intro's chapter table, one row per chapter of _toc.yml, in its order.

The directive ``chapter-table`` takes a YAML body mapping each chapter's file name (the last part of its path in
_toc.yml) to ``content`` and ``paper`` (its counterpart in the paper). The chapters themselves, their order and their
titles come from the table of contents, so a chapter is listed once, in _toc.yml; a chapter without a description
(listed all the same, with empty cells) or a description of a chapter not in _toc.yml is a build warning naming it,
and a test (tests/test_book_build.py) fails on it.
"""
from __future__ import annotations

import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)


def toc_chapters(site_map) -> list[str]:
    """Document names of every chapter under the root of a sphinx-external-toc site map, in order."""
    names: list[str] = []

    def walk(docname: str) -> None:
        doc = site_map[docname]
        for child in doc.child_files():
            names.append(child)
            walk(child)

    walk(site_map.root.docname)
    return names


def mismatches(chapters: list[str], described: dict) -> list[str]:
    """One line per chapter of `chapters` (doc names) without a description and per description of no chapter."""
    keys = [c.rsplit("/", 1)[-1] for c in chapters]
    return ([f"chapter-table: no description of the chapter {k!r} (add it to the table's body in book/intro.md)"
             for k in keys if k not in described]
            + [f"chapter-table: {k!r} is described but not in _toc.yml" for k in described if k not in keys])


def table_markdown(chapters: list[str], described: dict) -> str:
    """The MyST table of `chapters` (doc names, in order) with their `described` content and paper counterpart."""
    rows = ["| chapter | content | paper counterpart |", "|---|---|---|"]
    for doc in chapters:
        d = described.get(doc.rsplit("/", 1)[-1]) or {}
        rows.append(f"| {{doc}}`/{doc}` | {d.get('content', '')} | {d.get('paper', '—')} |")
    return "\n".join(rows)


class ChapterTable(SphinxDirective):
    """```{chapter-table}``` with a YAML body {file name: {content: ..., paper: ...}}."""

    has_content = True

    def run(self) -> list[nodes.Node]:
        described = yaml.safe_load("\n".join(self.content)) or {}
        site_map = getattr(self.env, "external_site_map", None) or getattr(self.config, "external_site_map", None)
        if site_map is None:
            raise self.error("chapter-table needs sphinx-external-toc (_toc.yml)")
        chapters = toc_chapters(site_map)
        for line in mismatches(chapters, described):
            logger.warning(line, location=(self.env.docname, self.lineno))
        text = table_markdown(chapters, described)
        node = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=self.env.docname), self.content_offset, node)
        return node.children


def setup(app):
    app.add_directive("chapter-table", ChapterTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
