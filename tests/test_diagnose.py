"""scoregap.diagnose and `python -m scoregap diagnose`: any model (potential or score; checkpoint, .npz, TorchScript, callable),
any 2-D data (name, .npy/.csv, sampler), OU/VP/VE; the report's numbers and keys; bad inputs rejected before any work.

Small sizes (n = 600, nfe = 40, a 16 × 16 grid) keep each diagnosis to a second or two."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import scoregap
from scoregap import cli, datasets, diagnosis, metrics
from scoregap import sde as S
from scoregap.models import PotentialMLP

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "data" / "checkpoints" / "cpu" / "checker_w0.0.pt"
SMALL = {"n": 600, "nfe": 40, "bootstrap": 2, "floor_repeats": 1, "grid_n": 16, "progress": False, "n_x": 200, "n_t": 4}


class ScoreMLP(torch.nn.Module):
    """A plain score network (not a gradient field)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(3, 16), torch.nn.SiLU(), torch.nn.Linear(16, 2))

    def forward(self, x, t):
        t = torch.as_tensor(t, dtype=x.dtype).expand(x.shape[0], 1) if torch.as_tensor(t).ndim == 0 else t.reshape(-1, 1).to(x.dtype)
        return 0.2 * self.net(torch.cat([t, x], 1)) - x


def exact_gaussian_score(proc):
    """Closed-form score of the Gaussian data set's p_t under `proc`: -Σ_t⁻¹ (x - a m), Σ_t = a² C + v I (differentiable)."""
    d = datasets.get("gaussian")
    m, C = torch.tensor(d.mean, dtype=torch.float64), torch.tensor(d.cov, dtype=torch.float64)

    def score(x, t):
        t = t.double().reshape(-1, 1, 1)
        a, v = proc.kernel_mean_coef(t), proc.kernel_var(t)
        cov = a**2 * C + v * torch.eye(2, dtype=torch.float64)
        return -torch.linalg.solve(cov, (x.double() - a[:, :, 0] * m).unsqueeze(-1)).squeeze(-1).to(x.dtype)
    return score


def test_torch_func_derivatives_match_autograd():
    """score_derivatives (torch.func, reverse mode: forward mode through linalg.solve under vmap gave wrong ∂_t s for all
    but the first row) agrees with plain nested autograd on a score built from a batched solve."""
    from scoregap import losses

    g = torch.Generator().manual_seed(0)
    x = torch.rand(20, 2, generator=g, dtype=torch.float64) * 7 - 3.5
    t = torch.rand(20, 1, generator=g, dtype=torch.float64) * 5 + 0.01
    f = exact_gaussian_score(S.OU)
    for a, b in zip(losses.score_derivatives(f, x, t), losses._score_derivatives_autograd(f, x, t)):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_scoregap_diagnose_is_the_function():
    assert scoregap.diagnose is diagnosis.diagnose


@pytest.mark.parametrize("proc", ["ou", "vp", "ve"])
def test_exact_score_has_no_gap_no_residual_no_curl(proc):
    """The exact score of Gaussian data: ODE–SDE W2² within the floor, score-form residual and curl at round-off.
    Planted defect (the next test): a plain score network has a clearly positive gap, residual and curl."""
    process = S.get(proc, datasets.get("gaussian").sample(2000, seed=0))
    r = scoregap.diagnose(exact_gaussian_score(process), "gaussian", sde=process, **SMALL)
    s = r.summary
    assert s["kind"] == "score" and s["sde"] == proc and s["n"] == 600 and s["grid_n"] == 16
    assert s["ode_sde"]["estimate"] < 4 * s["floor"] + 0.01, s
    assert s["fp_residual"]["score_form"] < 1e-6 and s["fp_residual"]["curl"] < 1e-10
    for k in diagnosis.W2_KEYS:
        e = s[k]
        assert set(e) == {"estimate", "ci_low", "ci_high"} and 0 <= e["ci_low"] <= e["ci_high"]


def test_plain_score_network_diagnoses():
    r = scoregap.diagnose(ScoreMLP(), "moons", sde="vp", **SMALL)
    s = r.summary
    assert s["kind"] == "score" and s["data"] == "moons"
    assert s["fp_residual"]["score_form"] > 1e-3 and s["fp_residual"]["curl"] > 1e-6 and 0 < s["fp_residual"]["curl_relative"] < 1
    assert s["ode_sde"]["estimate"] > 0 and r.residual_field.shape == (diagnosis.FIELD_N, diagnosis.FIELD_N)
    assert set(r.hists) == {"ode", "sde", "data"} and all(h.shape == (256,) and abs(h.sum() - 1) < 1e-12 for h in r.hists.values())


def test_potential_checkpoint_report_and_decomposition():
    """A PotentialMLP checkpoint: kind potential, residual total = time-only + centred (the gauge split), curl 0;
    its residual under OU equals losses.residual_decomposition on the box."""
    from scoregap import losses
    from scoregap.results import load_checkpoint

    r = scoregap.diagnose(str(CHECKPOINT), "checker", **SMALL)
    s = r.summary
    fp = s["fp_residual"]
    assert s["kind"] == "potential" and s["box"] == metrics.BOX and fp["curl"] == 0.0
    assert fp["total"] == pytest.approx(fp["time_only"] + fp["centred"], rel=1e-9)
    model, _, _ = load_checkpoint(CHECKPOINT)
    assert fp["total"] == pytest.approx(losses.residual_decomposition(model, n_x=200, n_t=4, seed=0)["total"], rel=1e-12)
    assert set(s["dropped"]) == {"ode", "sde", "data"} and all(0 <= v < 0.1 for v in s["dropped"].values())


def test_a_potential_callable_and_torchscript_file(tmp_path):
    """A generic potential callable (n,) and a TorchScript score module saved to a file both diagnose."""
    blob = datasets.get("blob")
    r = scoregap.diagnose(lambda x, t: blob.log_prob(x.double(), t), "blob", **SMALL)  # the exact log p_t: residual at round-off (float32 points)
    assert r.summary["kind"] == "potential" and r.summary["fp_residual"]["total"] < 1e-8
    assert r.summary["ode_sde"]["estimate"] < 4 * r.summary["floor"] + 0.01
    from scoregap.results import load_checkpoint

    model, _, _ = load_checkpoint(CHECKPOINT)  # an authors'-release-style .npz (keys input.weight … output.bias)
    np.savez(tmp_path / "checker_w0.0.npz", **{k: v.detach().numpy() for k, v in model.state_dict().items()})
    st = diagnosis.prepare(str(tmp_path / "checker_w0.0.npz"), "checker", n=600)
    assert st.model.kind == "potential" and st.model.label == "authors' network checker_w0.0.npz"
    assert torch.equal(st.model.fn.score(torch.ones(3, 2), 0.5), model.score(torch.ones(3, 2), 0.5))
    path = tmp_path / "score.pt"
    torch.jit.script(ScoreMLP()).save(str(path))
    r = scoregap.diagnose(str(path), "spiral", sde="vp", **SMALL)
    assert r.summary["kind"] == "score" and r.summary["model"] == "TorchScript score.pt" and r.summary["fp_residual"]["curl"] > 0
    with pytest.raises(ValueError, match=r"model: all 600 ODE samples lie outside the evaluation box"):
        scoregap.diagnose(lambda x, t: torch.full_like(x, 50.0), "spiral", sde="vp", **SMALL)


def test_data_files_and_samplers_box_and_dropped(tmp_path):
    """A .csv with a header and a .npy give the empirical law; wider data widens the box; a sampler works; outliers are counted."""
    x = 2.0 * datasets.get("blob").sample(3000, seed=0).numpy()
    x[:2] = 50.0  # beyond the box (its 0.999 quantile ignores them): dropped and counted
    f = tmp_path / "wide.csv"
    np.savetxt(f, x, delimiter=",", header="x,y", comments="")
    st = diagnosis.prepare(ScoreMLP(), str(f), sde="vp", n=600, grid_n=16)
    assert st.box > metrics.BOX and st.n_data == 3000 and st.data.name == "wide"
    r = diagnosis.run(st, progress=False)
    assert r.summary["dropped_count"]["data"] == 2 and r.summary["dropped"]["data"] == pytest.approx(2 / 3000)
    np.save(tmp_path / "moons.npy", datasets.get("moons").sample(1000, seed=0).numpy())
    assert diagnosis.prepare(ScoreMLP(), str(tmp_path / "moons.npy"), n=600).box == metrics.BOX
    r = scoregap.diagnose(ScoreMLP(), lambda n, seed: datasets.get("spiral").sample(n, seed=seed), sde="vp", **SMALL)
    assert r.summary["n_data"] == 600


def test_bad_inputs_are_named_before_any_work(tmp_path):
    np.save(tmp_path / "three.npy", np.zeros((10, 3)))
    bad_nan = lambda x, t: x * float("nan")  # noqa: E731
    bad_shape = lambda x, t: x[:, :1].repeat(1, 3)  # noqa: E731
    cases = [
        (dict(data=str(tmp_path / "three.npy")), r"--data: three.npy has shape \(10, 3\); expected \(n, 2\)"),
        (dict(data="moon"), r"--data: 'moon' is neither a data-set name"),
        (dict(data=str(tmp_path / "none.npy")), r"--data: no such file"),
        (dict(model=bad_nan), r"model: returned NaN or infinite values"),
        (dict(model=bad_shape), r"model: output of shape \(16, 3\)"),
        (dict(model=str(tmp_path / "m.onnx")), r"--model: no such file"),
        (dict(sde=S.VESDE(sigma_max=1.0), data="checker"), r"sde='ve': its prior does not cover the data"),
        (dict(sde="vpp"), r"sde must be one of ou, vp, ve"),
        (dict(n=10), r"n must be an integer >= 100"),
        (dict(nfe=5), r"nfe must be an integer >= 11"),
        (dict(bootstrap=1), r"bootstrap must be 0"),
        (dict(kind="potential"), r"kind='potential' but its output has shape \(16, 2\)"),
    ]
    for kw, msg in cases:
        args = {"model": ScoreMLP(), "data": "moons", **kw}
        with pytest.raises((ValueError, FileNotFoundError), match=msg):
            diagnosis.prepare(args.pop("model"), args.pop("data"), **args)


def test_nan_during_sampling_is_reported():
    """A score that is finite on the probe but diverges along the sampler's path: a clear error, no report."""
    def exploding(x, t):
        return torch.where(torch.as_tensor(t) < 0.3, torch.full_like(x, float("nan")), -x)

    with pytest.raises(ValueError, match=r"model: ode sampling: non-finite samples"):
        scoregap.diagnose(exploding, "moons", sde="vp", **SMALL)


def test_cli_writes_report_and_figure(tmp_path, capsys):
    out, fig = tmp_path / "report.json", tmp_path / "report.png"
    rc = cli.main(["diagnose", "--model", str(CHECKPOINT), "--data", "checker", "--n", "600", "--nfe", "40", "--bootstrap", "2",
                   "--floor-repeats", "1", "--out", str(out), "--figure", str(fig), "--no-progress"])
    assert rc == 0 and fig.stat().st_size > 10_000
    rep = json.loads(out.read_text())
    assert {"ode_sde", "ode_data", "sde_data", "floor", "dropped", "fp_residual", "n", "nfe", "sde", "seconds"} <= set(rep)
    assert rep["sde"] == "ou" and rep["n"] == 600 and rep["nfe"] == 40 and rep["seconds"]["total"] > 0
    # on the paper's grid the floor is evaluation.floor's (the tables' own computation)
    from scoregap import evaluation
    assert rep["floor"] == pytest.approx(evaluation.floor("checker", 600, repeats=1)[0], rel=1e-12)
    assert rep["box"] == metrics.BOX and rep["grid_n"] == metrics.GRID_N
    assert "W2² ode–sde" in capsys.readouterr().out


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    np.save(tmp_path / "three.npy", np.zeros((10, 3)))
    rc = cli.main(["diagnose", "--model", str(CHECKPOINT), "--data", str(tmp_path / "three.npy"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--data: three.npy has shape (10, 3)" in err[0]
    rc = cli.main(["diagnose", "--model", str(CHECKPOINT), "--data", "checker", "--out", str(tmp_path / "r.txt")])
    assert rc == 2 and "--out must end in .json" in capsys.readouterr().err


def test_fit_trains_and_checks_its_inputs():
    """fitting.fit lowers the weighted DSM loss of a plain score network under VP; w_r > 0 needs a potential network."""
    from scoregap import fitting, models

    net = models.ScoreMLP(width=32, seed=0)
    log = fitting.fit(net, "gaussian", sde="vp", steps=150, batch=256, seed=0, progress=False)
    assert np.mean(log["dsm"][-20:]) < 0.7 * np.mean(log["dsm"][:20]) and log["fp"] == []
    with pytest.raises(ValueError, match="w_r > 0 needs a potential network"):
        fitting.fit(net, "gaussian", w_r=0.1, steps=1, progress=False)
    pot = models.PotentialMLP(seed=0)
    log = fitting.fit(pot, "moons", sde="vp", steps=3, w_r=0.1, n_colloc=64, progress=False)
    assert len(log["fp"]) == 3 and all(math.isfinite(v) for v in log["fp"])
