"""Notebook parameters that cannot act under the chosen preset are refused with a message naming them (book.setup)."""
import re
from pathlib import Path

import pytest

from scoregap import book, samplers

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, value", [("nfe", 100), ("n_samples", 5_000), ("seed", 7), ("bootstrap", 8)])
def test_a_recompute_parameter_without_recompute_is_an_error(name, value, tmp_path):
    with pytest.raises(ValueError, match=rf"invalid {name}={value}: it has no effect with preset 'cpu'.*recompute=True"):
        book.setup("closing_the_gap", preset="cpu", figure_dir=str(tmp_path), **{name: value})
    B = book.setup("closing_the_gap", preset="cpu", recompute=True, figure_dir=str(tmp_path), **{name: value})
    assert getattr(B, name) == value


def test_defaults_apply_when_recomputing_and_live_parameters_always_act(tmp_path):
    B = book.setup("closing_the_gap", preset="cpu", figure_dir=str(tmp_path), defaults={"nfe": 50, "bootstrap": 5})
    assert not B.recompute and B.nfe == 800 and B.bootstrap == 0 and B.n_samples == 1_000_000  # the shipped results' settings
    Q = book.setup("closing_the_gap", preset="quick", figure_dir=str(tmp_path), defaults={"nfe": 50, "bootstrap": 5})
    assert Q.recompute and Q.nfe == 50 and Q.bootstrap == 5
    D = book.setup("closing_the_gap", preset="quick", figure_dir=str(tmp_path))
    assert (D.nfe, D.bootstrap) == (book.RECOMPUTE_DEFAULTS["nfe"], book.RECOMPUTE_DEFAULTS["bootstrap"])
    L = book.setup("true_dynamics", preset="cpu", figure_dir=str(tmp_path), nfe=100, n_samples=5_000, seed=3,
                   live=("n_samples", "nfe", "seed"))
    assert (L.nfe, L.n_samples, L.seed) == (100, 5_000, 3)
    with pytest.raises(ValueError, match="bootstrap"):
        book.setup("closing_the_gap", preset="quick", figure_dir=str(tmp_path), bootstrap=1)
    with pytest.raises(ValueError, match="live"):
        book.setup("closing_the_gap", preset="quick", figure_dir=str(tmp_path), live=("steps",))


def test_every_chapter_leaves_its_recompute_parameters_unset_or_declares_them_live():
    """Executed with its defaults under the cpu preset, no chapter gives a parameter that cannot act."""
    for nb in sorted((ROOT / "notebooks").glob("*.md")):
        text = nb.read_text()
        cell = re.search(r":tags: \[parameters[^\]\n]*\]\n(.*?)```", text, re.S)  # parameters, hide-input
        if cell is None:
            continue
        call = re.search(r"book\.setup\((.*?)\)\n", text, re.S)
        live = re.search(r"live=\(([^)]*)\)", call.group(1)) if call else None
        declared = set(re.findall(r'"(\w+)"', live.group(1))) if live else set()
        for line in cell.group(1).splitlines():
            assert line.count("=") <= 1, f"{nb.name}: papermill cannot read the parameter line {line!r} (one '=' per line)"
        for name in book.RECOMPUTE_PARAMETERS:
            m = re.search(rf"^{name} = (\S+)", cell.group(1), re.M)
            if m and m.group(1) != "None":
                assert name in declared, f"{nb.name}: {name} = {m.group(1)} cannot act under the cpu preset (use None + defaults, or live)"


def test_nfe_makes_nfe_plus_90_score_evaluations_on_the_paper_grid():
    """The parameters cells say so: nfe − 10 steps of T/nfe and 100 of T/(10 nfe)."""
    for nfe in (11, 50, 800):
        assert len(samplers.time_grid(nfe, "paper")) - 1 == nfe + 90
    for nb in sorted((ROOT / "notebooks").glob("*.md")):
        for line in re.findall(r"^nfe = .*$", nb.read_text(), re.M):
            uniform = "uniform grid: nfe score evaluations" in line and "sde = " in nb.read_text()  # VP/VE chapters
            assert "nfe + 90 score evaluations" in line or uniform, f"{nb.name}: {line}"
