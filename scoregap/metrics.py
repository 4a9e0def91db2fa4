"""Histograms on the paper's 64 × 64 grid, exact W2² by optimal transport (POT), and sliced W2 (PAPER.md)."""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

GRID_N: int = 64
"""Grid points per axis."""
BOX: float = 3.5
"""The grid is linspace(-BOX, BOX, GRID_N)²; samples outside the box are dropped."""


def grid_points(n: int = GRID_N, box: float = BOX) -> np.ndarray:
    """Grid points in the published flattening order: index = y_index * n + x_index, shape (n², 2)."""
    lin = np.linspace(-box, box, n)
    gx, gy = np.meshgrid(lin, lin)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


@lru_cache(maxsize=4)
def cost_matrix(n: int = GRID_N, box: float = BOX) -> np.ndarray:
    """Squared-Euclidean cost between the grid points (float64, n² × n²)."""
    g = grid_points(n, box)
    return ((g[:, None, :] - g[None, :, :]) ** 2).sum(-1)


def _as_numpy_points(samples) -> np.ndarray:
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().numpy()
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must have shape (n, 2), got {samples.shape}")
    return samples


def histogram(samples, n: int = GRID_N, box: float = BOX):
    """(weights, dropped): normalised counts at the nearest grid point (length n², row = y index) and
    the number of samples outside [-box, box]² (or non-finite) that were dropped."""
    x = _as_numpy_points(samples)
    inside = np.isfinite(x).all(1) & (np.abs(x) <= box).all(1)
    dropped = int((~inside).sum())
    x = x[inside]
    if x.shape[0] == 0:
        raise ValueError(f"all {dropped} samples lie outside the box [-{box}, {box}]²")
    h = 2 * box / (n - 1)
    idx = np.clip(np.rint((x + box) / h).astype(np.int64), 0, n - 1)
    counts = np.bincount(idx[:, 1] * n + idx[:, 0], minlength=n * n).astype(np.float64)
    return counts / counts.sum(), dropped


def _check_weights(a, name: str, m: int) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64).ravel()
    if a.shape[0] != m:
        raise ValueError(f"{name} must have {m} entries (one per support point), got {a.shape[0]}")
    if not np.isfinite(a).all() or (a < 0).any() or a.sum() <= 0:
        raise ValueError(f"{name} must be finite, non-negative and not all zero")
    return a / a.sum()


def w2_squared(a, b, points=None) -> float:
    """Exact W2² between histograms a and b (on the paper's grid unless `points` is given), by POT's emd2."""
    import ot

    if points is None:
        M = cost_matrix()
    else:
        p = _as_numpy_points(points)
        M = ((p[:, None, :] - p[None, :, :]) ** 2).sum(-1)
    a = _check_weights(a, "a", M.shape[0])
    b = _check_weights(b, "b", M.shape[0])
    return float(max(ot.emd2(a, b, M, numItermax=10_000_000), 0.0))


def w2_squared_samples(x, y) -> float:
    """Exact W2² between two equal-weight point clouds (small samples only: O(n²) memory)."""
    import ot

    x, y = _as_numpy_points(x), _as_numpy_points(y)
    M = ot.dist(x, y, metric="sqeuclidean")
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), M, numItermax=10_000_000))


def sliced_w2(x, y, n_projections: int = 500, seed: int = 0) -> float:
    """Sliced W2² between raw samples: mean over random directions of the 1-D W2² (POT)."""
    import ot

    x, y = _as_numpy_points(x), _as_numpy_points(y)
    return float(ot.sliced_wasserstein_distance(x, y, n_projections=n_projections, p=2, seed=seed) ** 2)


def noise_floor(sample_fn, n: int, repeats: int = 3, seed: int = 0) -> tuple[float, float]:
    """Mean and std of W2² between histograms of two independent n-samples of one law (`sample_fn(n, seed)`)."""
    vals = []
    for r in range(repeats):
        a, _ = histogram(sample_fn(n, seed + 2 * r))
        b, _ = histogram(sample_fn(n, seed + 2 * r + 1))
        vals.append(w2_squared(a, b))
    return float(np.mean(vals)), float(np.std(vals))
