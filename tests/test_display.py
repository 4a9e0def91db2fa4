"""What a reader sees: table formats (scoregap.display) and figure labels that do not overlap (scoregap.plots)."""
from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

from scoregap import display, plots


# ---------------------------------------------------------------------- numbers and names

@pytest.mark.parametrize("value, text", [
    (0.0123456, "0.0123"), (12.345, "12.3"), (0.5, "0.5"), (0, "0"), (0.0, "0"), (1e-9, "10⁻⁹"), (2.5e-5, "2.5 × 10⁻⁵"),
    (123456.7, "123,457"), (3e8, "3 × 10⁸"), (1_000_000, "1,000,000"), (np.int64(20000), "20,000"),
    (float("nan"), "–"), (None, "–"), (float("inf"), "–"), (True, "yes"), (np.bool_(False), "no"), ("text", "text"),
])
def test_number(value, text):
    assert display.number(value) == text


def test_w_values_as_the_paper_writes_them():
    assert [display.w_value(w) for w in (0.0, 0.1, 1.0, 10.0)] == ["0", "0.1", "1", "10"]
    assert display.w_label(10.0) == "$w_R = 10$"


def test_names():
    assert [display.dataset(d) for d in ("blob", "circles2", "checker")] == ["mixture", "circles", "checkerboard"]
    assert display.column("ode_sde") == "ODE–SDE"
    assert display.column("ours_vs_published_ode") == "our ODE vs their ODE"
    assert display.column("anything else") == "anything else"


def test_math_becomes_a_mathjax_span_and_text_is_escaped():
    h = display.html_text("a < b at $w_R = 0$ & more")
    assert h == 'a &lt; b at <span class="math notranslate nohighlight">\\(w_R = 0\\)</span> &amp; more'
    assert display.plain_text("at $w_R = 0$") == "at w_R = 0"
    line = display.line("gap at $w_R = 10$")
    assert "$" not in line._repr_html_() and "\\(w_R = 10\\)" in line._repr_html_()
    assert repr(line) == "gap at w_R = 10"


# ---------------------------------------------------------------------- tables

def _cells(html: str, tag: str) -> list[list[str]]:
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    return [re.findall(rf"<{tag}[^>]*>(.*?)</{tag}>", r) for r in rows]


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_table_has_no_raw_index_and_reader_formats():
    frame = pd.DataFrame([{"dataset": "checker", "w_r": 0.0, "ode_sde": 1e-9, "n": 1_000_000, "note": None},
                          {"dataset": "checker", "w_r": 10.0, "ode_sde": float("nan"), "n": 1_000_000, "note": "$w_R = 10$"}])
    html = display.table(frame, caption="W2² at $n$").html
    text = _text(html)
    header = _cells(html, "th")[0]
    assert header[0] == "data set" and "\\(w_R\\)" in header[1] and header[2] == "ODE–SDE"
    body = [r for r in _cells(html, "td") if r]
    assert body[0] == ["checkerboard", "0", "10⁻⁹", "1,000,000", "–"]
    assert body[1][:3] == ["checkerboard", "10", "–"]
    for bad in ("None", "nan", "NaN", "e-09", "0.000000", "10.000000", "[1000000]", "checker "):
        assert bad not in text, bad
    assert "$" not in html  # every $…$ became a MathJax span
    assert not re.search(r"<t[hd][^>]*>\s*[01]\s*</t[hd]>\s*<t[hd][^>]*>checkerboard", html)  # no integer index column


def test_table_index_levels_become_key_columns_with_repeats_blank():
    frame = pd.DataFrame({"data set": ["mixture"] * 2 + ["circles"], "w_R": [0.0, 10.0, 0.0], "x": [1.0, 2.0, 3.0]})
    html = display.table(frame.set_index(["data set", "w_R"])).html
    keys = [r for r in _cells(html, "th")[1:]]
    assert keys == [["mixture", "0"], ["", "10"], ["circles", "0"]]
    assert [r for r in _cells(html, "td") if r] == [["1"], ["2"], ["3"]]


def test_table_multiindex_columns_and_formats():
    cols = pd.MultiIndex.from_tuples([("$w_R = 0$", "ours"), ("$w_R = 0$", "paper")])
    frame = pd.DataFrame([[0.0123, 0.0456]], index=pd.Index(["mixture"], name="data set"), columns=cols)
    html = display.table(frame, formats={("$w_R = 0$", "paper"): lambda v: f"{1e3 * v:.1f}"}).html
    assert '<th colspan="2"><span class="math notranslate nohighlight">\\(w_R = 0\\)</span></th>' in html
    assert [r for r in _cells(html, "td") if r] == [["0.0123", "45.6"]]


def test_table_wrap_column_and_plain_text():
    frame = pd.DataFrame({"claim": ["C1"], "statement": ["a long statement at $w_R = 0$ that may wrap"]})
    t = display.table(frame, wrap=("statement",))
    assert '<td class="wrap">' in t.html and "…" not in t.html
    assert "a long statement at w_R = 0 that may wrap" in repr(t)


# ---------------------------------------------------------------------- figure labels

def _overlaps(fig, texts) -> list[tuple[str, str]]:
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    for t in texts:
        if hasattr(t, "update_positions"):
            t.update_positions(r)
    boxes = [(t.get_text(), Text.get_window_extent(t, r)) for t in texts if t.get_visible() and t.get_text()]  # text only
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _annotations(fig):
    return [t for ax in fig.axes for t in ax.texts]


@pytest.fixture(autouse=True)
def _style():
    plots.set_style()
    yield
    matplotlib.pyplot.close("all")


def test_w_labels_of_gap_vs_residual_do_not_overlap():
    w = [0.0, 0.1, 1.0, 10.0]
    residual = np.array([[12.0, 0.01, 0.0034, 0.0012], [50.0, 0.018, 0.004, 0.00121]])  # the two w_R = 10 points coincide
    gap = np.array([[0.011, 0.003, 0.0029, 0.0022], [0.013, 0.005, 0.0031, 0.00221]])
    fig = plots.gap_vs_residual(residual, gap, ["blob", "circles2"], w, paper_residual=residual * 1.01, paper_gap=gap,
                                floor={"blob": 1e-3, "circles2": 1e-3})
    assert len(_annotations(fig)) == 8
    assert _overlaps(fig, _annotations(fig)) == []


def test_w_labels_of_dsm_and_bound_figures_do_not_overlap():
    w = [0.0, 0.1, 1.0, 10.0]
    residual = np.array([[12.0, 0.01, 0.0034, 0.0012], [12.5, 0.0101, 0.0035, 0.00121]])
    dsm = np.array([[1.0, 1.01, 1.02, 1.05], [1.0, 1.011, 1.021, 1.051]])
    fig = plots.dsm_vs_residual(dsm, residual, ["blob", "circles2"], w)
    assert _overlaps(fig, _annotations(fig)) == []
    measured = np.array([[0.1, 0.05, 0.04, 0.03], [0.1, 0.051, 0.04, 0.03]])
    fig = plots.bound_vs_measured(measured, measured * 10, ["blob", "circles2"], w, bound_local=measured * 2)
    assert _overlaps(fig, _annotations(fig)) == []


def test_dopri5_tolerance_labels_of_the_solver_figure_do_not_overlap():
    rows = []
    for sc in ("exact", "checker_w0.0"):
        for k in (25, 50, 100):
            rows.append({"score": sc, "solver": "euler", "schedule": "uniform", "steps": k, "rtol": float("nan"), "nfe": k,
                         "ode_sde": 1.0 / k, "ode_ref": 1.0 / k, "floor": 0.008, "floor_std": 0.002})
        for i, tol in enumerate((1e-2, 1e-3, 1e-4, 1e-5)):  # four runs at nearly the same cost and gap
            rows.append({"score": sc, "solver": "dopri5", "schedule": "adaptive", "steps": float("nan"), "rtol": tol,
                         "nfe": 400 + 20 * i, "ode_sde": 0.0105 + 1e-4 * i, "ode_ref": 1e-3 / (i + 1), "floor": 0.008,
                         "floor_std": 0.002})
    fig = plots.solver_study(rows)
    labels = _annotations(fig)
    assert len(labels) == 16 and all("10^{-" in t.get_text() for t in labels)
    assert _overlaps(fig, labels) == []


def test_comparison_colour_bars_have_legible_ticks_and_no_blacked_out_panel():
    rng = np.random.default_rng(0)
    truth = rng.random(64 * 64)
    sde = truth + 0.01 * rng.random(64 * 64)
    ode = np.zeros(64 * 64)
    ode[rng.choice(64 * 64, 100, replace=False)] = 1.0  # the ODE piles its samples into a few cells
    fig = plots.comparisons([(sde / sde.sum(), ode / ode.sum(), truth / truth.sum(), "row")])
    cbar = fig.axes[-1]
    ticks = [t for t in cbar.get_yticklabels() if t.get_text()]
    assert len(ticks) >= 3 and _overlaps(fig, ticks) == []
    sde_img, truth_img = fig.axes[0].images[0], fig.axes[3].images[0]
    for im in (sde_img, truth_img):  # the panel's own scale: its median cell is not drawn near black
        data = np.asarray(im.get_array())
        assert np.median(data) / im.norm.vmax > 0.2


def test_papermill_injected_cell_is_removed_from_the_page():
    import json

    from scoregap.sphinx_offline import remove_injected_cells

    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "preset = 'cpu'"},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "# Parameters\npreset = 'quick'"},
                    {"cell_type": "markdown", "metadata": {}, "source": "text"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    out = json.loads(remove_injected_cells(json.dumps(nb)))
    assert [c["metadata"].get("tags", []) for c in out["cells"]] == [["parameters"], ["injected-parameters", "remove-cell"], []]
    assert remove_injected_cells("# A markdown page\n") == "# A markdown page\n"


def test_bare_w_r_in_library_text_is_typeset():
    h = display.html_text("ODE–SDE at w_R = 0 ≥ 3 × ODE–SDE at $w_R = 10$")
    assert "w_R" not in h.replace("\\(w_R", "")  # every w_R sits inside a math span
    assert h.count('<span class="math notranslate nohighlight">') == 2


def test_all_empty_columns_are_left_out_and_tolerances_read_as_powers_of_ten():
    frame = pd.DataFrame({"data set": ["mixture", "circles"], "trained on": [None, "–"], "rtol": [1e-3, 5e-4]})
    html = display.table(frame.set_index("data set"), formats={"rtol": display.power_of_ten}).html
    assert "trained on" not in html
    assert [r for r in _cells(html, "td") if r] == [["10⁻³"], ["5 × 10⁻⁴"]]
    assert display.table(frame.set_index("data set"), drop_empty=False).html.count("–") == 2


def test_diagnosis_difference_colour_bar_ticks_do_not_crowd_zero():
    rng = np.random.default_rng(1)
    n = 64
    data = rng.random(n * n)
    data /= data.sum()
    ode = data + 1e-4 * rng.standard_normal(n * n)  # a difference four decades below 1: ticks inside the linear range crowd 0
    fig = plots.diagnosis({"ode": ode, "sde": data.copy(), "data": data}, rng.random((8, 8)) + 0.1)
    cbar = fig.axes[5]  # the colour bar of the ODE − SDE panel
    ticks = [t for t in cbar.get_yticklabels() if t.get_text()]
    assert len(ticks) >= 3 and _overlaps(fig, ticks) == []


def test_seed_spread_legend_fits_in_the_figure_with_one_data_set():
    rows = [{"dataset": "checker", "w_r": w, "seed": s, "n": 1000, "floor": 2e-3, "ode_truth": 0.08 + 0.01 * s,
             "sde_truth": 0.006 + w * 0.008, "ode_sde": 0.08 - w * 0.0075} for w in (0.0, 10.0) for s in (0, 1, 2)]
    fig = plots.seed_spread(rows, ["checker"], [0.0, 10.0])
    fig.canvas.draw()
    box, frame = fig.legends[0].get_window_extent(), fig.bbox
    assert box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
