"""The authors' published artefacts (the paper's published numbers, data/paper_numbers.json), when SCOREGAP_REFERENCE_DIR points at
them.  They are not ours and never part of the repository; without them these tests skip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from scoregap import losses, metrics, models

PAPER_DATASETS = ("blob", "circles2", "checker")
PUBLISHED_W = ("0.0", "0.1", "1.0", "10.0")


def _hist(root, kind, name, w=None):
    if kind == "truth":
        f = root / "precomputed_dists" / f"weights_truth_64_3000000_{name}.npy"
    else:
        f = root / "precomputed_dists" / f"weights_{kind}_64_3000000_100000_800_{name}_{w}.npy"
    if not f.is_file():
        pytest.skip(f"published histogram missing: {f}")
    return np.load(f)


def test_all_published_weights_load(published_weights):
    x = torch.tensor([[0.5, -1.0], [2.0, 1.0]])
    for (name, w), path in published_weights.items():
        net = models.load_published(path)
        assert isinstance(net, models.PotentialMLP)
        assert net.input.weight.shape == (80, 3) and net.output.weight.shape == (1, 80)
        s = net.score(x, 0.5)
        assert s.shape == (2, 2) and torch.isfinite(s).all(), (name, w)


@pytest.mark.parametrize("w, expected", [("0.0", 239.0), ("10.0", 0.00089)])
def test_checker_mean_squared_residual_matches_paper(published_weights, w, expected):
    """The paper's published residuals (data/paper_numbers.json): checkerboard 239 (w_R = 0) and 0.00089 (w_R = 10), 20 000 uniform points, fixed seed.
    The collocation points depend on the seed and the generator, so agreement within 15 % is asked for
    (measured with seed 0: 239.45 and 0.000888, i.e. within 0.2 %)."""
    net = models.load_published(published_weights[("checker", w)])
    msr = losses.mean_squared_residual(net, n=20_000, seed=0)
    assert abs(msr / expected - 1) < 0.15, (w, msr, expected)


def test_published_histograms_are_normalised(reference_dir):
    for name in PAPER_DATASETS:
        h = _hist(reference_dir, "truth", name)
        assert h.size == 4096 and np.isfinite(h).all() and (h >= 0).all()
        assert h.sum() == pytest.approx(1.0, abs=1e-9)
        for kind in ("ode", "sde"):
            for w in PUBLISHED_W:
                h = _hist(reference_dir, kind, name, w)
                assert h.size == 4096 and h.sum() == pytest.approx(1.0, abs=1e-9)


def test_published_checker_ode_sde_gap_recomputed(reference_dir):
    """W2²(ODE, SDE) for (checker, w_R = 0) from the published histograms: the paper's 0.02720 (data/paper_numbers.json) (same data,
    recomputed with the same exact OT, so agreement within 1 %)."""
    a = _hist(reference_dir, "ode", "checker", "0.0")
    b = _hist(reference_dir, "sde", "checker", "0.0")
    assert metrics.w2_squared(a, b) == pytest.approx(0.02720, rel=0.01)
