"""Presentation: the book's tables and result lines as a reader sees them.

Display names of the data sets and of the result columns, numbers with three significant digits (never
``1.000000e-09`` or ``0.000000``), and TeX written between ``$…$`` turned into markup that MathJax typesets in the
built book (and in Jupyter): an inline-math span ``<span class="math">\\(…\\)</span>``, the element Sphinx itself
writes for inline math. `table` renders a pandas DataFrame as an HTML table without the raw integer index, with the
former index levels as leading columns and repeated keys left blank; `line` renders a sentence. Nothing here computes.
"""
from __future__ import annotations

import html
import math
import re
from typing import Callable, Mapping

import numpy as np

from .datasets import LABELS

DASH = "–"
"""What a missing or non-finite value reads as."""

COLUMN_NAMES = {
    "dataset": "data set", "data set": "data set", "w_r": "$w_R$", "w_R": "$w_R$", "distance": "distance",
    "ode_truth": "ODE–truth", "sde_truth": "SDE–truth", "ode_sde": "ODE–SDE",
    "sliced_ode_truth": "sliced ODE–truth", "sliced_sde_truth": "sliced SDE–truth", "sliced_ode_sde": "sliced ODE–SDE",
    "ours_vs_published_ode": "our ODE vs their ODE", "ours_vs_published_sde": "our SDE vs their SDE",
    "w2_ours_vs_published_ode": "W2²(our ODE, their ODE)", "w2_ours_vs_published_sde": "W2²(our SDE, their SDE)",
    "paper_ode_truth": "paper ODE–truth", "paper_sde_truth": "paper SDE–truth", "paper_ode_sde": "paper ODE–SDE",
    "rel_diff_ode_truth": "rel. diff. ODE–truth", "rel_diff_sde_truth": "rel. diff. SDE–truth",
    "rel_diff_ode_sde": "rel. diff. ODE–SDE",
    "fp_residual": "FP residual", "final_dsm": "final DSM loss", "dropped_ode": "dropped (ODE)",
    "dropped_sde": "dropped (SDE)", "n": "$n$", "nfe": "score evaluations",
}
"""Reader's name of a result column (the internal names of experiment.TABLE_FIELDS and the comparison files)."""

SOLVER_NAMES = {"euler": "Euler", "heun": "Heun", "dopri5": "dopri5", "em": "Euler–Maruyama"}
"""Reader's name of a solver of the solver study."""

_DATASET_COLUMNS = ("dataset", "data set")
_W_COLUMNS = ("w_r", "w_R", "$w_R$")
_MATH = re.compile(r"\$([^$]+)\$")
_W_BARE = re.compile(r"\bw_R\b")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def dataset(name: str) -> str:
    """Reader's name of a data set (mixture, circles, checkerboard); unknown names pass through."""
    return LABELS.get(name, name)


def column(name) -> str:
    """Reader's name of a result column; names not in COLUMN_NAMES pass through."""
    return COLUMN_NAMES.get(name, name) if isinstance(name, str) else str(name)


def w_value(w) -> str:
    """A w_R value as the paper writes it: 0, 0.1, 1, 10."""
    return f"{float(w):g}"


def w_label(w) -> str:
    """'$w_R = 0.1$' (TeX; `html_text` and `plain_text` render it)."""
    return f"$w_R = {w_value(w)}$"


def number(v, digits: int = 3) -> str:
    """A number for a reader: `digits` significant digits, powers of ten as × 10⁻⁹, integers with thousands
    separators, booleans as yes/no, None and non-finite values as a dash; strings pass through."""
    if v is None:
        return DASH
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    v = float(v)
    if not math.isfinite(v):
        return DASH
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits and abs(v) < 1e7:
        return f"{round(v):,}"
    if 1e-3 <= abs(v) < 10 ** digits:
        return f"{v:.{digits}g}"
    mantissa, exponent = f"{v:.{digits - 1}e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa} × {power}"


def power_of_ten(v) -> str:
    """A tolerance or scale as a power of ten: 10⁻³ for 1e-3, 5 × 10⁻⁴ for 5e-4 (plain `number` for others)."""
    v = float(v)
    if not math.isfinite(v) or v <= 0:
        return number(v)
    mantissa, exponent = f"{v:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    power = "10" + str(int(exponent)).translate(_SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa} × {power}"


def _math_span(tex: str) -> str:
    return f'<span class="math notranslate nohighlight">\\({html.escape(tex)}\\)</span>'


def html_text(text) -> str:
    """HTML of a label or cell: the text escaped, each `$…$` an inline-math span that MathJax typesets (a bare
    `w_R` outside `$…$`, as in the library's claim statements, is typeset too)."""
    text = str(text)
    out, pos = [], 0
    for m in _MATH.finditer(text):
        out.append(_W_BARE.sub(_math_span("w_R"), html.escape(text[pos:m.start()])))
        out.append(_math_span(m.group(1)))
        pos = m.end()
    out.append(_W_BARE.sub(_math_span("w_R"), html.escape(text[pos:])))
    return "".join(out)


def plain_text(text) -> str:
    """The text with its `$…$` delimiters dropped (for the plain-text form of a table or line)."""
    return _MATH.sub(lambda m: m.group(1), str(text))


class Rendered:
    """An HTML fragment that Jupyter and MyST-NB display as HTML, with a plain-text form for terminals."""

    def __init__(self, html_: str, text: str):
        self.html, self.text = html_, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def line(text: str) -> Rendered:
    """A sentence of results (TeX between `$…$` typeset), wrapped to the page's width unlike printed output."""
    return Rendered(f'<p class="scoregap-line">{html_text(text)}</p>', plain_text(text))


def lines(texts) -> Rendered:
    """Several sentences of results, one paragraph each (see `line`)."""
    parts = [line(t) for t in texts]
    return Rendered("".join(p.html for p in parts), "\n".join(p.text for p in parts))


def show(*objects) -> None:
    """Display tables and lines from inside a loop or before the end of a cell (IPython's display)."""
    from IPython.display import display as ipython_display

    ipython_display(*objects)


def _missing(v) -> bool:
    if v is None or (isinstance(v, str) and v.strip() in ("", DASH, "None", "nan")):
        return True
    return isinstance(v, (float, np.floating)) and not math.isfinite(float(v))


def _cell(value, col: str, fmt: Callable | None, digits: int) -> str:
    if fmt is not None:
        return fmt(value)
    if col in _DATASET_COLUMNS and isinstance(value, str):
        return dataset(value)
    if col in _W_COLUMNS and not isinstance(value, str) and value is not None:
        return w_value(value)
    return number(value, digits)


def table(frame, caption: str = "", formats: Mapping[str, Callable] | None = None, digits: int = 3,
          wrap: tuple = (), drop_empty: bool = True) -> Rendered:
    """A pandas DataFrame as a reader's HTML table.

    A default integer index is dropped; any other index becomes leading key columns, where a key equal to the one
    above is left blank. Column names go through `column` and cells through `formats[column]` (a callable on the raw
    value) or else `number` (data-set names through `dataset`, w_R values through `w_value`); `$…$` in names, cells
    and the caption is typeset. Columns named in `wrap` (long text) may break lines; the others do not. With
    `drop_empty`, a column whose every cell is missing (None, NaN, "–") is left out. The caption is a paragraph above
    the table (it wraps to the page's width); a wide table scrolls sideways in its own container.
    """
    import pandas as pd

    df = frame.copy()
    keys = 0
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1 and df.index.name is None):
        keys = df.index.nlevels
        df = df.reset_index()
    formats = dict(formats or {})
    if drop_empty:
        empty = [c for c in df.columns[keys:] if all(_missing(v) for v in df[c])]
        df = df.drop(columns=empty)
    multi = isinstance(df.columns, pd.MultiIndex)
    names = [tuple(c) if multi else (c,) for c in df.columns]
    body = []
    for r in range(len(df)):
        cells = []
        for j, name in enumerate(names):
            raw = df.iat[r, j]
            text = _cell(raw, name[0] if len(name) == 1 else name, formats.get(name if multi else name[0]), digits)
            if j < keys and r > 0 and df.iat[r - 1, j] == raw and all(df.iat[r - 1, i] == df.iat[r, i] for i in range(j)):
                text = ""
            cells.append(text)
        body.append(cells)
    levels = len(names[0]) if names else 1
    head = []
    for lev in range(levels):
        row, j = [], 0
        while j < len(names):
            if j < keys:
                row.append((column(names[j][0]) if lev == levels - 1 else "", 1))
                j += 1
                continue
            span = 1
            if lev < levels - 1:
                while j + span < len(names) and names[j + span][:lev + 1] == names[j][:lev + 1]:
                    span += 1
            row.append((column(names[j][lev]), span))
            j += span
        head.append(row)
    wrap_cols = {j for j, n in enumerate(names) if n[0] in wrap or (multi and n in wrap)}

    def td(j, text, tag="td"):
        cls = ["key"] if j < keys else []
        cls += ["wrap"] if j in wrap_cols else []
        cls_attr = f' class="{" ".join(cls)}"' if cls else ""
        return f"<{tag}{cls_attr}>{html_text(text)}</{tag}>"

    parts = [f'<p class="scoregap-caption">{html_text(caption)}</p>' if caption else "",
             '<div class="scoregap-table"><table class="scoregap">', "<thead>"]
    for row in head:
        parts.append("<tr>" + "".join((f'<th colspan="{s}">' if s > 1 else "<th>") + html_text(t) + "</th>"
                                      for t, s in row) + "</tr>")
    parts.append("</thead><tbody>")
    for cells in body:
        parts.append("<tr>" + "".join(td(j, t, "th" if j < keys else "td") for j, t in enumerate(cells)) + "</tr>")
    parts.append("</tbody></table></div>")
    header = [plain_text(" / ".join(column(x) for x in n if str(x))) for n in names]
    text = pd.DataFrame([[plain_text(c) for c in cells] for cells in body], columns=header).to_string(index=False)
    return Rendered("".join(parts), (plain_text(caption) + "\n" if caption else "") + text)
