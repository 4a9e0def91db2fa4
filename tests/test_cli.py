"""The command line: help texts and clear errors."""
import subprocess
from pathlib import Path
import sys

import pytest

from scoregap import cli


@pytest.mark.parametrize("cmd", ["train", "sample", "truth", "evaluate"])
def test_help_explains_every_option(cmd, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([cmd, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--preset" in out and "--set" in out


def test_bad_override_is_a_clear_error(capsys, tmp_path):
    assert cli.main(["train", "--preset", "cpu", "--set", "w_r=1", "--out", str(tmp_path / "a.pt")]) == 2
    assert "--w-r" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "cpu", "--set", "device=gpu", "--out", str(tmp_path / "a.pt")]) == 2
    assert "allowed devices" in capsys.readouterr().err
    assert not (tmp_path / "a.pt").exists()


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "scoregap", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "train" in r.stdout


def test_train_sample_truth_evaluate_end_to_end(tmp_path):
    ck = tmp_path / "ck"
    assert cli.main(["train", "--preset", "cpu", "--no-progress", "--set", "steps=20", "dsm_batch=256", "fp_batch=64", "log_every=5",
                     "--dataset", "blob", "--w-r", "0.0", "--out-dir", str(ck)]) == 0
    assert cli.main(["truth", "--preset", "quick", "--set", "n_samples=500", "--dataset", "blob", "--out-dir", str(tmp_path / "t")]) == 0
    from scoregap import experiment

    info = experiment.run_truth(__import__("scoregap.config", fromlist=["make"]).make("quick", n_samples=500), "blob", tmp_path / "t2.npz")
    hist, sub, info2 = experiment.read_result(tmp_path / "t" / "truth_blob.npz")
    assert info2 == info and abs(hist.sum() - 1) < 1e-12


def test_sample_published_dataset_filter(tmp_path, capsys):
    """--published-dataset samples only the named data sets' networks (a release folder with only those is enough)."""
    import numpy as np

    from scoregap import experiment
    from scoregap.results import load_checkpoint

    (tmp_path / "ref" / "weights").mkdir(parents=True)
    net = load_checkpoint(Path(__file__).resolve().parent.parent / "data/checkpoints/cpu/blob_w0.0.pt")[0]  # a trained network keeps its samples in the box
    for w in ("0.0", "0.1", "1.0", "10.0"):
        np.savez(tmp_path / "ref" / "weights" / f"blob_w{w}.npz", **{k: v.detach().numpy() for k, v in net.state_dict().items()})
    out = tmp_path / "s"
    assert cli.main(["sample", "--preset", "quick", "--set", "n_samples=64", "nfe=20", "--no-progress", "--published", str(tmp_path / "ref"),
                     "--published-dataset", "blob", "--method", "ode", "--out-dir", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.npz")) == [f"blob_w{w}_ode.npz" for w in ("0.0", "0.1", "1.0", "10.0")]
    one = tmp_path / "one.npz"
    assert cli.main(["sample", "--preset", "quick", "--set", "n_samples=64", "nfe=20", "--no-progress", "--published", str(tmp_path / "ref"),
                     "--published-dataset", "blob", "--published-w-r", "10.0", "--method", "sde", "--out", str(one)]) == 0
    assert experiment.read_result(one)[2]["w_r"] == 10.0
    with pytest.raises(SystemExit):
        cli.main(["sample", "--published", str(tmp_path / "ref"), "--published-w-r", "2.0", "--out-dir", str(out)])
    assert "invalid choice: '2.0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["sample", "--published", str(tmp_path / "ref"), "--published-dataset", "moons", "--out-dir", str(out)])
    assert "invalid choice: 'moons'" in capsys.readouterr().err


def test_interrupted_sample_command_resumes_from_its_partial_file(tmp_path, monkeypatch):
    """run_sample (the `sample` step) saves finished batches to <out>.partial; a rerun after a crash continues there and
    writes the same file as an uninterrupted run; a partial file of other settings is ignored."""
    from scoregap import config, experiment, models, results

    root = Path(__file__).resolve().parent.parent / "data" / "checkpoints" / "cpu"
    net = results.load_checkpoint(root / "blob_w0.0.pt")[0]
    cfg = config.make("quick", n_samples=900, nfe=20, schedule="uniform")
    ref = tmp_path / "ref.npz"
    experiment.run_sample(net, cfg, "blob", 0.0, "sde", ref, progress=False, batch_size=300)
    out = tmp_path / "out.npz"
    real_save = results.save_state
    saves = []

    def crash_after_first(path, state):
        real_save(path, state)
        saves.append(state["state"]["done"])
        raise KeyboardInterrupt

    monkeypatch.setattr(results, "save_state", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        experiment.run_sample(net, cfg, "blob", 0.0, "sde", out, progress=False, batch_size=300)
    monkeypatch.setattr(results, "save_state", real_save)
    part = experiment.partial_path(out)
    assert saves == [300] and part.exists() and not out.exists()
    info = experiment.run_sample(net, cfg, "blob", 0.0, "sde", out, progress=False, batch_size=300)
    assert not part.exists() and info["n"] == 900
    a, b = results.load_npz(ref), results.load_npz(out)
    assert (a["hist"] == b["hist"]).all() and (a["subsample"] == b["subsample"]).all()
    # a partial file from another model is not used
    other = results.load_checkpoint(root / "blob_w10.0.pt")[0]
    monkeypatch.setattr(results, "save_state", crash_after_first)
    with pytest.raises(KeyboardInterrupt):
        experiment.run_sample(other, cfg, "blob", 0.0, "sde", out, progress=False, batch_size=300)
    monkeypatch.setattr(results, "save_state", real_save)
    experiment.run_sample(net, cfg, "blob", 0.0, "sde", out, progress=False, batch_size=300)
    assert (results.load_npz(out)["hist"] == a["hist"]).all()
