"""Probability-flow ODE solvers (scoregap.solvers) and the solver study (scoregap.solver_study).

Exact checks on Gaussian data, where the probability-flow map x_T ↦ x_0 is linear and known in closed form
(`solvers.gaussian_flow`): Euler's error falls like h, Heun's like h², dopri5 meets its tolerance. Then the
study itself on a tiny case: its columns, and that with the exact score the ODE–SDE gap at many steps is at
the Monte Carlo floor while a coarse Euler grid is far above it.
"""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from scoregap import cli, datasets, models, samplers, sde, solver_study, solvers

G = datasets.get("gaussian")


@pytest.fixture(scope="module")
def gaussian_case():
    """500 starting points x_T ~ N(0, ½I) (float64) and their exact images at t = 0."""
    x_T = sde.sample_prior(500, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return x_T, solvers.gaussian_flow(G, x_T)


def _err(x, exact) -> float:
    return float((x.double() - exact).norm(dim=1).max())


def test_closed_form_flow_is_the_ode_solution(gaussian_case):
    """dopri5 at tolerance 1e-10 reproduces the closed-form map, and the map sends N(μ_T, Σ_T) to N(μ_0, Σ_0)."""
    x_T, exact = gaussian_case
    x, nfe = solvers.dopri5(G.score, x_T, rtol=1e-10, atol=1e-10)
    assert _err(x, exact) < 1e-7, _err(x, exact)
    assert nfe > 100
    m_T, c_T = G.marginal(sde.T)
    z = m_T + torch.randn(200_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) @ torch.linalg.cholesky(c_T).T
    y = solvers.gaussian_flow(G, z)
    m_0, c_0 = G.marginal(0.0)
    torch.testing.assert_close(y.mean(0), m_0, atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(y.T), c_0, atol=0.02, rtol=0)


def _observed_order(solver, x_T, exact, k1: int, k2: int) -> tuple[float, float, float]:
    e1 = _err(solver(G.score, x_T, nfe=k1, schedule="uniform"), exact)
    e2 = _err(solver(G.score, x_T, nfe=k2, schedule="uniform"), exact)
    return math.log(e1 / e2) / math.log(k2 / k1), e1, e2


def test_euler_is_first_order(gaussian_case):
    """Measured: errors 0.066 (200 steps), 0.033 (400 steps): order 1.0."""
    x_T, exact = gaussian_case
    p, e1, e2 = _observed_order(solvers.euler, x_T, exact, 200, 400)
    assert abs(p - 1) < 0.3, (p, e1, e2)
    assert 0.01 < e2 < 0.1


def test_heun_is_second_order(gaussian_case):
    """Measured: errors 0.0095 (200 steps), 0.0026 (400 steps): order 1.86 (→ 2; the final Euler step is O(h²) too)."""
    x_T, exact = gaussian_case
    p, e1, e2 = _observed_order(solvers.heun, x_T, exact, 200, 400)
    assert abs(p - 2) < 0.3, (p, e1, e2)
    assert e2 < 0.01
    e_euler = _err(solvers.euler(G.score, x_T, nfe=400, schedule="uniform"), exact)
    assert e2 < e_euler / 5


def test_euler_is_the_published_sampler(gaussian_case):
    x_T, _ = gaussian_case
    a = solvers.euler(G.score, x_T, nfe=60, schedule="paper")
    b = samplers.sample(G.score, x_T.shape[0], method="ode", nfe=60, schedule="paper", x_T=x_T, progress=False)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def _recording(score, seen):
    def f(x, t):
        seen.append(float(t))
        return score(x, t)
    return f


@pytest.mark.parametrize("schedule, nfe", [("uniform", 7), ("paper", 20)])
def test_heun_grid_and_score_evaluations(schedule, nfe):
    """Two evaluations per step on the sampler's grid, one on the last step; never at t = 0."""
    seen = []
    x_T = sde.sample_prior(10, generator=torch.Generator().manual_seed(0))
    solvers.heun(_recording(G.score, seen), x_T, nfe=nfe, schedule=schedule)
    grid = samplers.time_grid(nfe, schedule)
    assert len(seen) == solvers.heun_nfe(nfe, schedule) == 2 * (len(grid) - 1) - 1
    assert set(np.round(seen, 12)) == set(np.round(grid[:-1], 12))
    assert min(seen) > 0


def test_dopri5_meets_its_tolerance(gaussian_case):
    """Measured max errors: 1.0e-3 at rtol 1e-3 (81 evaluations), 1.6e-5 at 1e-5 (141). The score is never asked at t < EPS."""
    x_T, exact = gaussian_case
    errors, nfes = [], []
    for rtol in (1e-3, 1e-5):
        seen = []
        x, nfe = solvers.dopri5(_recording(G.score, seen), x_T, rtol=rtol)
        assert x.dtype == x_T.dtype and nfe == len(seen)
        assert min(seen) >= sde.EPS and max(seen) <= sde.T
        errors.append(_err(x, exact))
        nfes.append(nfe)
        assert errors[-1] < 10 * rtol, (rtol, errors[-1])
    assert errors[1] < errors[0] / 10 and nfes[1] > nfes[0]
    with pytest.raises(ValueError):
        solvers.dopri5(G.score, x_T, rtol=0.0)


def test_model_score_uses_the_explicit_pass():
    model = models.PotentialMLP(seed=0)
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(solvers.score_fn(model)(x, 0.3), model.score(x, 0.3).detach())
    torch.testing.assert_close(solvers.score_fn(model)(x.double(), 0.3), model.score(x, 0.3).detach().double())


# ----------------------------------------------------------------------------------------------- the study

@pytest.fixture(scope="module")
def tiny_study():
    return solver_study.run(G.score, "gaussian", 3000, label="exact", steps=(5, 200), heun_steps=(100,), paper_nfe=0,
                            rtols=(1e-2, 1e-4), floor_repeats=3, progress=False)


def test_study_rows_and_columns(tiny_study):
    rows = tiny_study
    assert all(tuple(r) == solver_study.FIELDS for r in rows)
    got = sorted((r["solver"], r["steps"] if r["solver"] != "dopri5" else r["rtol"]) for r in rows)
    assert got == sorted([("euler", 5), ("euler", 200), ("heun", 100), ("dopri5", 1e-2), ("dopri5", 1e-4), ("em", 5), ("em", 200)])
    nfe = {(r["solver"], r["steps"]): r["nfe"] for r in rows if r["solver"] != "dopri5"}
    assert nfe[("euler", 200)] == 200 and nfe[("heun", 100)] == 199 and nfe[("em", 5)] == 5
    ref = next(r for r in rows if r["solver"] == "dopri5" and r["rtol"] == 1e-4)
    assert ref["ode_ref"] == 0.0  # the reference against itself
    em200 = next(r for r in rows if r["solver"] == "em" and r["steps"] == 200)
    assert ref["ode_sde"] == em200["ode_sde"]  # both: reference ODE vs finest SDE
    assert len({r["floor"] for r in rows}) == 1


def test_exact_score_gap_reaches_the_floor(tiny_study):
    """Exact score: at 200 Euler steps (and for dopri5, Heun) the ODE–SDE gap is at the floor; at 5 steps far above it."""
    rows = {(r["solver"], r["steps"] if r["solver"] != "dopri5" else r["rtol"]): r for r in tiny_study}
    floor, sd = rows[("euler", 200)]["floor"], rows[("euler", 200)]["floor_std"]
    assert 0 < floor < 0.05
    for key in (("euler", 200), ("heun", 100), ("dopri5", 1e-4)):
        assert rows[key]["ode_sde"] < 2 * floor + 3 * sd, (key, rows[key]["ode_sde"], floor)
        assert rows[key]["truth"] < 2 * floor + 3 * sd, (key, rows[key]["truth"], floor)
    assert rows[("euler", 5)]["ode_sde"] > 5 * floor
    # same x_T: Euler at 200 steps is much closer to the reference ODE than an independent sample could be
    assert rows[("euler", 200)]["ode_ref"] < rows[("euler", 5)]["ode_ref"] / 10
    assert rows[("euler", 200)]["ode_ref"] < floor  # measured 0.0034 vs floor 0.0086 (binning of a pathwise error ~0.07)


def test_cli_writes_the_csv(tmp_path, capsys):
    out = tmp_path / "study.csv"
    rc = cli.main(["solver-study", "--dataset", "gaussian", "--n-samples", "400", "--steps", "4", "16", "--heun-steps", "4",
                   "--paper-nfe", "0", "--rtol", "1e-2", "--floor-repeats", "1", "--no-progress", "--out", str(out)])
    assert rc == 0
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == solver_study.FIELDS and len(rows) == 6
    assert {r["solver"] for r in rows} == {"euler", "heun", "dopri5", "em"}
    assert len(solver_study.read(out)) == 6  # with the record its reader checks
    assert "W2²" in capsys.readouterr().out
    assert cli.main(["solver-study", "--dataset", "gaussian", "--rtol", "0", "--out", str(out)]) == 2
    with pytest.raises(SystemExit):
        cli.main(["solver-study", "--dataset", "moons", "--out", str(out)])
