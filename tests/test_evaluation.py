"""scoregap.evaluation: exact W2² cases, the one claims definition, the paper's numbers, and the shipped table reproduced."""
from pathlib import Path

import numpy as np
import pytest

from scoregap import evaluation, experiment, metrics, provenance

ROOT = Path(__file__).resolve().parents[1]
CPU = ROOT / "data" / "results" / "cpu"


def _grid_hist(points, weights=None):
    """A histogram on the paper's grid with the given grid points (index pairs) and weights."""
    h = np.zeros(metrics.GRID_N ** 2)
    for (ix, iy), w in zip(points, weights or [1.0] * len(points)):
        h[iy * metrics.GRID_N + ix] += w
    return h / h.sum()


def _write(folder, name, hist, sub, n, dropped=0):
    from scoregap.results import save_npz

    info = {"n": n, "dropped": dropped}
    save_npz(folder / name, hist=hist, subsample=np.asarray(sub, dtype=np.float32), info=np.array(repr(info)))
    return folder / name


def test_identical_histograms_are_at_distance_zero(tmp_path):
    rng = np.random.default_rng(0)
    h = _grid_hist([(3, 60), (40, 2), (63, 63)], list(rng.random(3)))
    sub = rng.normal(size=(50, 2))
    files = [_write(tmp_path, f"{k}.npz", h, sub, 1000) for k in ("ode", "sde", "truth")]
    cols = evaluation.plugin_columns(*files)
    assert cols["ode_truth"] == cols["sde_truth"] == cols["ode_sde"] == 0.0
    assert cols["sliced_ode_sde"] == pytest.approx(0.0, abs=1e-12)


def test_shifted_point_mass_has_the_analytic_w2(tmp_path):
    """δ_a against δ_b: W2² = |a − b|²; half-and-half against a shifted copy: the shift squared."""
    h = 2 * metrics.BOX / (metrics.GRID_N - 1)
    a, b = _grid_hist([(10, 20)]), _grid_hist([(13, 24)])
    sub = np.zeros((4, 2))
    ode, sde, tru = (_write(tmp_path, f"{k}.npz", x, sub, 100) for k, x in (("ode", a), ("sde", b), ("truth", a)))
    cols = evaluation.plugin_columns(ode, sde, tru)
    assert cols["ode_sde"] == pytest.approx(((3 * h) ** 2 + (4 * h) ** 2), rel=1e-12)
    assert cols["sde_truth"] == pytest.approx(25 * h * h, rel=1e-12) and cols["ode_truth"] == 0.0
    assert (cols["n"], cols["dropped_ode"], cols["dropped_sde"]) == (100, 0, 0)
    two, shifted = _grid_hist([(5, 5), (40, 40)]), _grid_hist([(7, 5), (42, 40)])
    assert metrics.w2_squared(two, shifted) == pytest.approx((2 * h) ** 2, rel=1e-12)


def test_row_columns_and_bootstrap_validation(tmp_path):
    h = _grid_hist([(30, 30), (31, 30)], [3, 1])
    g = _grid_hist([(30, 30), (33, 30)], [3, 1])
    sub = np.zeros((4, 2))
    files = [_write(tmp_path, f"{k}.npz", x, sub, 400, dropped=0) for k, x in (("ode", h), ("sde", g), ("truth", h))]
    row = evaluation.evaluate_row("blob", 0.0, *files, bootstrap=4, bootstrap_seed=1)
    assert set(row) == set(evaluation.TABLE_FIELDS)
    assert row["ode_truth"] == 0.0 and row["floor"] != row["floor"]  # the floor is filled by add_floors
    assert 0 <= row["ode_sde_ci_low"] <= row["ode_sde_ci_high"]
    for bad in (1, -1, True, 2.0):
        with pytest.raises(ValueError, match="bootstrap"):
            evaluation.evaluate_row("blob", 0.0, *files, bootstrap=bad)


def test_floor_is_metrics_noise_floor_with_the_table_seeds():
    from scoregap import datasets

    ds = datasets.get("blob")
    want = metrics.noise_floor(lambda m, s: ds.sample(m, seed=s), 500, repeats=2, seed=evaluation.FLOOR_SEED)
    assert evaluation.floor("blob", 500, repeats=2) == want


def _row(d, w, ot, st, os_, spread=None):
    r = {"dataset": d, "w_r": w, "ode_truth": ot, "sde_truth": st, "ode_sde": os_, "floor": 0.001, "n": 1000}
    if spread is not None:
        for c, v in (("ode_truth", ot), ("sde_truth", st), ("ode_sde", os_)):
            r[f"{c}_ci_low"], r[f"{c}_ci_high"] = v * (1 - spread), v * (1 + spread)
    return r


def test_claims_one_definition():
    rows = [_row("checker", 0.0, 0.07, 0.009, 0.067, 0.1), _row("checker", 1.0, 0.01, 0.01, 0.01, 0.1),
            _row("checker", 10.0, 0.088, 0.088, 0.0077, 0.1)]
    got = {c["claim"]: c for c in evaluation.claims(rows)}
    assert set(got) == {"C1", "C2", "C3"} and all(c["w_hi"] == 10.0 for c in got.values())
    assert all(c["holds"] and c["resolved"] for c in got.values())
    wide = [_row("checker", 0.0, 0.07, 0.009, 0.067, 0.8), _row("checker", 10.0, 0.088, 0.088, 0.0077, 0.8)]
    got = {c["claim"]: c for c in evaluation.claims(wide)}
    assert all(c["holds"] for c in got.values()) and got["C1"]["resolved"] is False  # 0.2·67 < 3 × 1.8·7.7
    # C1 is ≥ (equality holds), C2 and C3 strict
    edge = [_row("blob", 0.0, 0.01, 0.01, 0.03), _row("blob", 10.0, 0.02, 0.01, 0.01)]
    got = {c["claim"]: c for c in evaluation.claims(edge)}
    assert got["C1"]["holds"] and not got["C2"]["holds"] and not got["C3"]["holds"]
    assert got["C1"]["resolved"] is None  # no intervals: not decided
    # a data set without w_R = 0 or without a larger w_R has no claims
    assert evaluation.claims([_row("blob", 0.0, 1, 1, 1)]) == [] and evaluation.claims([_row("blob", 1.0, 1, 1, 1)]) == []
    with pytest.raises(ValueError, match="factor"):
        evaluation.claims(rows, factor=0.5)


def test_the_paper_claims_hold_on_the_paper_numbers():
    got = evaluation.claims(evaluation.paper_rows())
    assert len(got) == 9 and all(c["holds"] for c in got)


def test_paper_numbers_come_from_the_json_only():
    import json

    d = json.loads(evaluation.PAPER_NUMBERS.read_text())
    assert set(d) == {"source", "n_samples", "datasets", "labels", "w_r", "ode_truth", "sde_truth", "ode_sde", "fp_residual"}
    assert evaluation.paper_samples() == d["n_samples"] == 3_000_000
    arr = evaluation.paper_array("ode_sde", ["checker", "nope"], [10.0, 0.5])
    assert arr[0, 0] == d["ode_sde"]["checker"][3] and np.isnan(arr[0, 1]) and np.isnan(arr[1]).all()


def test_table_roundtrip_and_pivot(tmp_path):
    rows = [{**{f: 0.0 for f in evaluation.TABLE_FIELDS}, "dataset": d, "w_r": w, "ode_sde": i + 0.5}
            for i, (d, w) in enumerate([("blob", 0.0), ("checker", 10.0)])]
    evaluation.write_table(rows, tmp_path / evaluation.TABLE_FILE)
    provenance.write_record(tmp_path / evaluation.TABLE_FILE, {"step": "evaluate"})  # read_table reads recorded tables only
    back = evaluation.read_table(tmp_path / evaluation.TABLE_FILE)
    p = evaluation.pivot(back, "ode_sde", w_values=(0.0, 10.0), names=("blob", "checker"))
    assert p[0, 0] == 0.5 and p[1, 1] == 1.5 and np.isnan(p[0, 1])


@pytest.mark.slow
def test_shipped_row_plugin_columns_are_reproduced():
    """Re-evaluating a shipped row (checkerboard, w_R = 0) from the shipped sample and truth files gives the CSV's values to
    its 6 printed digits: n, the dropped counts, sliced W2² ODE–truth and W2² ODE–truth (evaluation.plugin_columns'
    formulas; the W2² solved on the union of the supports, the value of the full solve, see test_uncertainty; the
    smallest problem of the table). So the code computes what made data/results/cpu/w2.csv."""
    d, w = "checker", 0.0
    ode, sde = (CPU / "samples" / evaluation.sample_file_name(d, w, m) for m in ("ode", "sde"))
    truth = CPU / "truth" / evaluation.truth_file_name(d)
    if not (ode.is_file() and sde.is_file() and truth.is_file()):
        pytest.skip("shipped cpu sample files are not in this checkout")
    (row,) = [r for r in evaluation.read_table(CPU / evaluation.TABLE_FILE) if (r["dataset"], r["w_r"]) == (d, w)]
    (ho, so, io), (_, _, is_), (ht, st, _) = (experiment.read_result(f) for f in (ode, sde, truth))
    got = {"n": io["n"], "dropped_ode": io["dropped"], "dropped_sde": is_["dropped"],
           "sliced_ode_truth": metrics.sliced_w2(so, st), "ode_truth": metrics.w2_squared(ho, ht, points=metrics.grid_points())}
    for k, v in got.items():
        assert (f"{v:.6g}" == f"{row[k]:.6g}") if isinstance(v, float) else v == row[k], (k, v, row[k])
