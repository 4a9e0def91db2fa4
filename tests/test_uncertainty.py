"""Confidence intervals on W2² (metrics.w2_bootstrap), the support-restricted exact W2², and the debiased estimates."""
from __future__ import annotations

import numpy as np
import pytest

from scoregap import metrics


def _blob_law(seed, centre=(0.0, 0.0), scale=0.25):
    """A fixed discrete law on the grid: a random-weighted Gaussian bump (exact population, no sampling)."""
    rng = np.random.default_rng(seed)
    g = metrics.grid_points()
    w = np.exp(-((g - np.asarray(centre)) ** 2).sum(1) / (2 * scale ** 2)) * rng.uniform(0.5, 1.5, g.shape[0])
    w[w < 1e-4 * w.max()] = 0.0
    return w / w.sum()


def _sparse_random_hist(rng, k=300):
    w = np.zeros(4096)
    idx = rng.choice(4096, size=k, replace=False)
    w[idx] = rng.random(k) ** 3
    return w / w.sum()


def test_support_restricted_w2_equals_the_full_solve():
    """w2_squared_support solves on the union of the nonzero bins; the full 4096-point problem gives the same value."""
    rng = np.random.default_rng(0)
    a, b = _sparse_random_hist(rng), _sparse_random_hist(rng)
    assert metrics.w2_squared_support(a, b) == pytest.approx(metrics.w2_squared(a, b), abs=1e-10, rel=0)
    a = _blob_law(1)
    b = _sparse_random_hist(rng, 150)  # disjoint-ish supports, one much smaller
    assert metrics.w2_squared_support(a, b) == pytest.approx(metrics.w2_squared(a, b), abs=1e-10, rel=0)
    # explicit points: restricting changes nothing either
    pts = rng.normal(size=(40, 2))
    a, b = rng.random(40) * (rng.random(40) < 0.5), rng.random(40) * (rng.random(40) < 0.5)
    import ot

    full = ot.emd2(a / a.sum(), b / b.sum(), ot.dist(pts, pts), numItermax=10_000_000)
    assert metrics.w2_squared(a, b, points=pts) == pytest.approx(full, abs=1e-10, rel=0)


def test_counts_from_weights():
    c = np.array([3, 0, 5, 2])
    assert np.array_equal(metrics.counts_from_weights(c / 10, 10), c)
    with pytest.raises(ValueError, match="n_inside"):
        metrics.counts_from_weights(c / 10, 7)  # not the sample count of this histogram
    with pytest.raises(ValueError, match="n_inside"):
        metrics.counts_from_weights(c / 10, 0)


def test_same_seed_same_interval_and_replicates_differ_with_the_seed():
    rng = np.random.default_rng(3)
    ca, cb = rng.multinomial(3000, _blob_law(2)), rng.multinomial(3000, _blob_law(3, centre=(0.3, 0.0)))
    r1 = metrics.w2_bootstrap(ca, cb, n_boot=8, seed=5)
    r2 = metrics.w2_bootstrap(ca, cb, n_boot=8, seed=5)
    r3 = metrics.w2_bootstrap(ca, cb, n_boot=8, seed=6)
    assert (r1.low, r1.high, r1.se, r1.replicates) == (r2.low, r2.high, r2.se, r2.replicates)
    assert r1.replicates != r3.replicates
    assert r1.estimate == r3.estimate == pytest.approx(metrics.w2_squared(ca, cb), abs=1e-12)
    assert 0 <= r1.low <= r1.debiased <= r1.high and r1.se > 0 and len(r1.replicates) == 8
    assert r1.debiased == pytest.approx(max(r1.estimate - r1.bias, 0), abs=1e-15)
    for method in ("basic", "percentile"):
        r = metrics.w2_bootstrap(ca, cb, n_boot=8, seed=5, method=method)
        assert 0 <= r.low <= r.high and r.replicates == r1.replicates
    r4 = metrics.w2_bootstrap(ca, cb, n_boot=8, seed=5, workers=3)  # threaded solves: the same numbers
    assert (r4.estimate, r4.low, r4.high, r4.se, r4.replicates) == (r1.estimate, r1.low, r1.high, r1.se, r1.replicates)


@pytest.mark.parametrize("kwargs, word", [
    ({"n_boot": 1}, "n_boot"), ({"n_boot": 2.5}, "n_boot"), ({"seed": -1}, "seed"), ({"level": 1.2}, "level"),
    ({"level": 0}, "level"), ({"method": "bca"}, "method"), ({"workers": 0}, "workers"), ({"workers": 1.5}, "workers"),
])
def test_bad_arguments_name_the_parameter(kwargs, word):
    c = np.zeros(4096, dtype=int)
    c[[0, 5]] = 4
    with pytest.raises(ValueError, match=word):
        metrics.w2_bootstrap(c, c, **kwargs)


def test_bad_counts_name_the_argument():
    c = np.zeros(4096, dtype=int)
    c[[0, 5]] = 4
    with pytest.raises(ValueError, match="counts_a"):
        metrics.w2_bootstrap(c / 8, c)  # normalised weights, not counts
    with pytest.raises(ValueError, match="counts_b"):
        metrics.w2_bootstrap(c, -c)
    with pytest.raises(ValueError, match="same length"):
        metrics.w2_bootstrap(c, c[:-1])
    with pytest.raises(ValueError, match="floor"):
        metrics.floor_debiased(0.01, -1.0)
    assert metrics.floor_debiased(0.01, 0.004) == pytest.approx(0.006)
    assert metrics.floor_debiased(0.003, 0.004) == 0.0


def test_bootstrap_interval_covers_the_population_w2():
    """Coverage check that can fail: two fixed discrete laws on the grid, their population W2² exact by emd2;
    draw n samples of each 20 times, and the default (bias-corrected normal) 95 % interval must contain the
    population value in at least 15 of them (Binomial(20, 0.95): P(≤ 14) ≈ 3e-4 if the coverage were 95 %;
    a miscalibrated interval — e.g. the doubly biased percentile one on a distance near the floor — fails).
    Measured here: see the assertion message."""
    P, Q = _blob_law(10, centre=(-0.1, 0.0)), _blob_law(11, centre=(0.1, 0.05), scale=0.28)
    theta = metrics.w2_squared(P, Q)
    rng = np.random.default_rng(2024)
    hits, ests, debs = 0, [], []
    for r in range(20):
        ca, cb = rng.multinomial(2000, P), rng.multinomial(2000, Q)
        iv = metrics.w2_bootstrap(ca, cb, n_boot=20, seed=r)
        hits += iv.low <= theta <= iv.high
        ests.append(iv.estimate)
        debs.append(iv.debiased)
    msg = f"coverage {hits}/20, population W2² {theta:.4g}, mean estimate {np.mean(ests):.4g}, mean debiased {np.mean(debs):.4g}"
    print(msg)
    assert hits >= 15, msg
    # the plug-in estimate is biased upward; the bias-corrected one is closer on average
    assert np.mean(ests) > theta, msg
    assert abs(np.mean(debs) - theta) < abs(np.mean(ests) - theta), msg


FAKE_SETTINGS = ["--preset", "quick", "--set", "n_samples=400", "nfe=20", "schedule=uniform"]
"""The settings of _fake_results (evaluate checks that its files were made with them)."""


def _fake_results(folder, n=400):
    """ODE, SDE and truth files of the `evaluate` layout (FAKE_SETTINGS): the samplers run on the stationary score -2x."""
    from scoregap import config, experiment

    cfg = config.make("quick", dataset="blob", n_samples=n, nfe=20, schedule="uniform")
    for method in ("ode", "sde"):
        experiment.run_sample(lambda x, t: -2 * x, cfg, "blob", 0.0, method, folder / f"blob_w0.0_{method}.npz", progress=False)
    experiment.run_truth(cfg, "blob", folder / "truth_blob.npz")


def test_evaluate_cli_writes_interval_columns_after_the_old_ones(tmp_path, capsys):
    from scoregap import cli, evaluation, experiment, reporting

    _fake_results(tmp_path)
    out = tmp_path / "w2.csv"
    args = ["evaluate", "--samples-dir", str(tmp_path), "--dataset", "blob", "--w-r", "0.0", "--floor-repeats", "0", "--out", str(out),
            *FAKE_SETTINGS]
    assert cli.main([*args, "--bootstrap", "6", "--bootstrap-seed", "3"]) == 0
    header = out.read_text().splitlines()[0].split(",")
    old = ["dataset", "w_r", "ode_truth", "sde_truth", "ode_sde", "sliced_ode_truth", "sliced_sde_truth", "sliced_ode_sde",
           "n", "dropped_ode", "dropped_sde", "fp_residual", "final_dsm", "floor", "floor_std"]
    assert header[:len(old)] == old  # backward compatible: new columns only, appended
    assert {"ode_truth_ci_low", "ode_truth_ci_high", "ode_truth_se", "ode_truth_debiased", "ode_sde_debiased", "bootstrap"} <= set(header)
    (row,) = evaluation.read_table(out)
    for c in ("ode_truth", "sde_truth", "ode_sde"):
        assert 0 <= row[f"{c}_ci_low"] <= row[f"{c}_debiased"] <= row[f"{c}_ci_high"] and row[f"{c}_se"] > 0
    assert row["bootstrap"] == 6 and row["bootstrap_seed"] == 3
    first = out.read_text()
    assert cli.main([*args, "--bootstrap", "6", "--bootstrap-seed", "3"]) == 0
    assert out.read_text() == first  # seeded
    printed = capsys.readouterr().out
    assert "[" in reporting.with_interval(row, "ode_sde", 1e3) and "claims" in printed
    # without --bootstrap: the columns exist and are empty (nan)
    assert cli.main(args) == 0
    (row0,) = evaluation.read_table(out)
    assert row0["ode_sde"] == row["ode_sde"] and row0["ode_sde_ci_low"] != row0["ode_sde_ci_low"]
    assert not reporting.has_intervals(row0)
    assert cli.main([*args, "--bootstrap", "1"]) == 2
    assert "--bootstrap" in capsys.readouterr().err


def test_claims_with_intervals():
    from scoregap import evaluation, reporting

    def row(w, ot, st, os_, lo=0.8, hi=1.2):
        r = {"dataset": "checker", "w_r": w, "ode_truth": ot, "sde_truth": st, "ode_sde": os_, "floor": 0.01, "n": 20000}
        for c, v in (("ode_truth", ot), ("sde_truth", st), ("ode_sde", os_)):
            r[f"{c}_ci_low"], r[f"{c}_ci_high"] = lo * v, hi * v
        return r

    rows = [row(0.0, 0.07, 0.009, 0.067), row(10.0, 0.088, 0.088, 0.0077)]
    got = {c["claim"]: c for c in evaluation.claims(rows)}
    assert all(c["holds"] for c in got.values())
    assert got["C1"]["resolved"] and got["C2"]["resolved"] and got["C3"]["resolved"]
    wide = [row(0.0, 0.07, 0.009, 0.067, 0.3, 2.0), row(10.0, 0.088, 0.088, 0.0077, 0.3, 2.0)]
    got = {c["claim"]: c for c in evaluation.claims(wide)}
    assert all(c["holds"] for c in got.values()) and got["C1"]["resolved"] is False  # 0.3·67 < 3 × 2·7.7
    assert len(reporting.claims_frame(evaluation.claims(rows))) == 3
