"""Sphinx extension of the book: no remote address in any page (listed in _config.yml under sphinx: extra_extensions).

Jupyter Book 1 always loads sphinx-thebe, which writes the URL of the thebe "live code" bundle on unpkg.com into
every page and a Binder configuration block, even with launch buttons off. The book is read offline and has no live
code, so this extension disconnects sphinx-thebe's page hooks before any document is read (MathJax is served locally
by sphinx-mathjax-offline). It also removes the cell papermill injects with a run's parameters (tagged
`injected-parameters`, the parameter values given on the command line) from the page, as a `remove-cell` tag would,
and loads MathJax on every page (the tables of results carry inline math in their HTML).
"""
from __future__ import annotations

import json

INJECTED_TAG = "injected-parameters"
"""papermill's tag of the cell it adds after the cell tagged `parameters`."""


def _drop_thebe(app) -> None:
    for event in ("env-before-read-docs", "doctree-resolved"):
        for listener in list(app.events.listeners.get(event, [])):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)


def remove_injected_cells(source: str) -> str:
    """An executed notebook's JSON with `remove-cell` added to papermill's injected cell (other sources unchanged)."""
    if INJECTED_TAG not in source or not source.lstrip().startswith("{"):
        return source
    nb = json.loads(source)
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            cell["metadata"]["tags"] = [*tags, "remove-cell"]
    return json.dumps(nb, ensure_ascii=False, indent=1)


def _source_read(app, docname, source) -> None:
    source[0] = remove_injected_cells(source[0])


def setup(app):
    # MathJax on every page, not only on pages with math in their source: tables and lines of results written by
    # scoregap.display carry inline math in their HTML output (e.g. the appendix has no math of its own).
    app.set_html_assets_policy("always")
    app.connect("builder-inited", _drop_thebe)
    app.connect("source-read", _source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
