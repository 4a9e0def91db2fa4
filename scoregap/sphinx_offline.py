"""Sphinx extension of the book: no remote address in any page (listed in _config.yml under sphinx: extra_extensions).

Jupyter Book 1 always loads sphinx-thebe, which writes the URL of the thebe "live code" bundle on unpkg.com into
every page and a Binder configuration block, even with launch buttons off. The book is read offline and has no live
code, so this extension disconnects sphinx-thebe's page hooks before any document is read (MathJax is served locally
by sphinx-mathjax-offline).
"""
from __future__ import annotations


def _drop_thebe(app) -> None:
    for event in ("env-before-read-docs", "doctree-resolved"):
        for listener in list(app.events.listeners.get(event, [])):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)


def setup(app):
    app.connect("builder-inited", _drop_thebe)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
