"""The command line: help texts and clear errors."""
import subprocess
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
