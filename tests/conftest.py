"""Shared fixtures for the scoregap test suite.

Threads: the suite is meant to run on a small shared CPU box.  With two cores shared with other work,
torch's default of one OpenMP thread per core made the exact-score samplers 10-20x slower (measured:
blob score step on 10 000 points 0.20 s with 2 threads vs 0.011 s with 1 thread while another process
was busy), so the suite pins torch to one thread unless SCOREGAP_TEST_THREADS says otherwise.

Published artefacts: tests that need the authors' release (weights and histograms) take the
`reference_dir` fixture, which reads SCOREGAP_REFERENCE_DIR (a directory laid out like
reference/ODESDEGap: weights/<dataset>_w<w>.npz and precomputed_dists/*.npy) and skips when it is
unset or incomplete.  The artefacts are not ours, so they are never part of the repository.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("SCOREGAP_TEST_THREADS", "1")))

PAPER_DATASETS = ("blob", "circles2", "checker")
PUBLISHED_W = ("0.0", "0.1", "1.0", "10.0")


def _reference_dir() -> tuple[Path | None, str]:
    env = os.environ.get("SCOREGAP_REFERENCE_DIR")
    if not env:
        return None, ("SCOREGAP_REFERENCE_DIR is not set; point it at a directory laid out like "
                      "reference/ODESDEGap (weights/*.npz, precomputed_dists/*.npy) to run the published-artefact tests")
    root = Path(env)
    missing = [f"weights/{d}_w{w}.npz" for d in PAPER_DATASETS for w in PUBLISHED_W
               if not (root / "weights" / f"{d}_w{w}.npz").is_file()]
    if not (root / "precomputed_dists").is_dir():
        missing.append("precomputed_dists/")
    if missing:
        return None, f"SCOREGAP_REFERENCE_DIR={env} is incomplete; missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}"
    return root, ""


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The published-artefact directory (skips the test when it is not available)."""
    root, reason = _reference_dir()
    if root is None:
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def published_weights(reference_dir):
    """Map (dataset, w) -> path of the published npz."""
    return {(d, w): reference_dir / "weights" / f"{d}_w{w}.npz" for d in PAPER_DATASETS for w in PUBLISHED_W}
