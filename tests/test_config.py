"""Experiment configuration: presets, overrides, and clear errors before any work starts."""
import pytest

from scoregap import config


def test_presets_differ_only_in_sizes():
    paper, cpu = config.make("paper"), config.make("cpu")
    assert paper.dsm_batch == 200_000 and paper.fp_batch == 50_000 and paper.steps == 100_000
    assert paper.n_samples == 3_000_000 and paper.nfe == 800 and paper.lrs == (1e-3, 1e-4, 1e-5)
    for f in ("lrs", "box", "eps", "T", "width", "nfe", "schedule", "grid_n"):
        assert getattr(paper, f) == getattr(cpu, f), f


def test_paper_lr_schedule():
    c = config.make("paper")
    assert c.lr_at(0) == 1e-3 and c.lr_at(24_999) == 1e-3
    assert c.lr_at(25_000) == 1e-4 and c.lr_at(89_999) == 1e-4
    assert c.lr_at(90_000) == 1e-5 and c.lr_at(99_999) == 1e-5


def test_overrides_are_parsed_by_type():
    c = config.make("cpu", **config.parse_overrides(["steps=123", "w_r=0.1", "device=cpu", "lrs=1e-3,1e-4,1e-5"]))
    assert c.steps == 123 and c.w_r == 0.1 and c.lrs == (1e-3, 1e-4, 1e-5)


def test_roundtrip_dict():
    c = config.make("cpu", dataset="blob", w_r=10.0)
    assert config.ExperimentConfig.from_dict(c.to_dict()) == c


@pytest.mark.parametrize("kw, field", [
    ({"dataset": "moons"}, "dataset"), ({"w_r": -1.0}, "w_r"), ({"n_samples": 0}, "n_samples"),
    ({"device": "tpu"}, "device"), ({"steps": "1.5"}, "steps"), ({"schedule": "cosine"}, "schedule"),
    ({"nope": 1}, "nope"),
])
def test_invalid_values_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        config.make("cpu", **kw)


def test_unknown_preset_lists_allowed():
    with pytest.raises(ValueError, match="allowed presets are paper, cpu, quick"):
        config.make("huge")
