"""Hostile but fair inputs: each test keeps one probe that once went through silently (wrong numbers, a destroyed file, a
traceback, work thrown away) and checks that it is now refused before any work, with one line naming the parameter or
file, or stopped where the fault arises. Tiny sizes throughout; the shipped checkpoints are only read."""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from scoregap import cli, config, experiment, results, samplers, training

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "data" / "checkpoints" / "cpu" / "blob_w0.0.pt"
TINY = ["--preset", "quick", "--no-progress", "--set", "steps=8", "dsm_batch=100", "fp_batch=50", "log_every=4"]


def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, f"not one line: {err}"
    assert "Traceback" not in err
    return err


def _copy_checkpoint(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for f in (CKPT, Path(str(CKPT) + ".sha256")):
        shutil.copy(f, dest / f.name)
    return dest / CKPT.name


# 1 ------------------------------------------------------------------------------------------------------------------
def test_resuming_a_state_of_other_settings_is_refused_and_fresh_starts_over(tmp_path, capsys):
    cfg = config.make("quick", dataset="checker", steps=8, dsm_batch=100, fp_batch=50, checkpoint_every=4, log_every=4)
    out = tmp_path / "checker_w0.0.pt"
    assert training.train([cfg], [out], progress=False, max_steps=4) == []  # interrupted after a state save
    assert training.state_path(out).exists()
    rc = cli.main(["train", *TINY, "checkpoint_every=4", "seed=7", "lrs=0.5,0.5,0.5", "--out", str(out)])
    err = _err(capsys)
    assert rc == 2 and not out.exists()
    assert "seed: 0 → 7" in err and "lrs" in err and "--fresh" in err
    assert cli.main(["train", *TINY, "checkpoint_every=4", "seed=7", "lrs=0.5,0.5,0.5", "--out", str(out), "--fresh"]) == 0
    _, saved, summary = results.load_checkpoint(out)
    assert saved.seed == 7 and summary["steps"] == 8 and not training.state_path(out).exists()
    fresh = tmp_path / "fresh" / out.name
    training.train([config.make("quick", dataset="checker", steps=8, dsm_batch=100, fp_batch=50, checkpoint_every=4, log_every=4,
                                seed=7, lrs=(0.5, 0.5, 0.5))], [fresh], progress=False)
    a, b = torch.load(out, weights_only=True), torch.load(fresh, weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])  # none of the old run's weights
    # the same settings still resume
    assert training.train([cfg], [tmp_path / "again.pt"], progress=False, max_steps=4) == []
    assert len(training.train([cfg], [tmp_path / "again.pt"], progress=False)) == 1


def test_checkpoints_of_the_current_training_code_carry_their_record(tmp_path):
    cfg = config.make("quick", dataset="blob", steps=4, dsm_batch=100, fp_batch=50, log_every=2)
    out = tmp_path / "blob_w0.0_s1.pt"
    training.train([cfg], [out], progress=False, snapshots=2)
    from scoregap import provenance

    rec = torch.load(out, weights_only=True)["record"]
    assert rec["step"] == "train" and rec["config"] == cfg.to_dict() and rec["code"] == provenance.code_hash("train")
    assert results.load_checkpoint(training.snapshot_path(out, 2))[1] == cfg
    # a shipped checkpoint (no record inside) still loads: its config is its record
    assert results.load_checkpoint(CKPT)[1].dataset == "blob"


# 2 ------------------------------------------------------------------------------------------------------------------
def test_an_output_equal_to_an_input_or_written_twice_is_refused(tmp_path, capsys):
    ck = _copy_checkpoint(tmp_path / "ck")
    before = ck.read_bytes()
    assert cli.main(["sample", "--preset", "quick", "--set", "n_samples=64", "nfe=20", "--no-progress", "--checkpoint", str(ck),
                     "--method", "ode", "--out", str(ck)]) == 2
    assert "also an input" in _err(capsys) and ck.read_bytes() == before
    results.verify(ck)
    f = tmp_path / "F.npz"
    assert cli.main(["truth", "--preset", "quick", "--dataset", "blob", "checker", "--out", str(f)]) == 2
    assert "--out" in _err(capsys) and not f.exists()
    # train --out x.csv: the checkpoint and its loss log would be one file
    assert cli.main(["train", *TINY, "--out", str(tmp_path / "m.csv")]) == 2
    assert "written twice" in _err(capsys) and not (tmp_path / "m.csv").exists()


def test_an_unwritable_output_folder_is_refused_before_the_work(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("not a folder")

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(experiment, "run_train", no_work)
    monkeypatch.setattr(experiment, "run_sample", no_work)
    assert cli.main(["train", *TINY, "--out", str(tmp_path / "file" / "m.pt")]) == 1
    assert "cannot write" in _err(capsys)
    assert cli.main(["sample", "--preset", "quick", "--checkpoint", str(CKPT), "--method", "ode", "--out-dir", str(tmp_path / "file" / "s")]) == 1
    assert "cannot write" in _err(capsys)


# 3 ------------------------------------------------------------------------------------------------------------------
SETTINGS = ["--preset", "quick", "--set", "n_samples=300", "nfe=20", "schedule=uniform"]


def _results(folder: Path, n: int = 300, **overrides) -> Path:
    """Sample and truth files of blob_w0.0 made with SETTINGS (+ overrides), by the stationary score -2x."""
    cfg = config.make("quick", dataset="blob", n_samples=n, nfe=20, schedule="uniform", **overrides)
    for m in ("ode", "sde"):
        experiment.run_sample(lambda x, t: -2 * x, cfg, "blob", 0.0, m, folder / f"blob_w0.0_{m}.npz", progress=False)
    experiment.run_truth(cfg, "blob", folder / "truth_blob.npz")
    return folder


def _evaluate(folder: Path, out: Path, *extra) -> int:
    return cli.main(["evaluate", "--samples-dir", str(folder), "--dataset", "blob", "--w-r", "0.0", "--floor-repeats", "0",
                     "--out", str(out), *extra])


def test_evaluate_takes_its_settings_and_refuses_unknown_ones(tmp_path, capsys):
    folder = _results(tmp_path / "r")
    out = tmp_path / "w2.csv"
    assert _evaluate(folder, out, *SETTINGS, "bogus=1") == 2
    assert "bogus" in _err(capsys) and not out.exists()
    assert _evaluate(folder, out, *SETTINGS[:-1], "nfe=abc") == 2
    assert "nfe" in _err(capsys)
    assert cli.main(["bound", "--set", "bogus=1", "--out", str(tmp_path / "b.csv")]) == 2
    assert "bogus" in _err(capsys)
    assert cli.main(["residuals", "--checkpoint-dir", str(CKPT.parent), "--set", "nfe=abc", "--out", str(tmp_path / "r.csv")]) == 2
    assert "nfe" in _err(capsys)
    assert _evaluate(folder, out, *SETTINGS) == 0 and out.is_file()  # the settings the files were made with
    from scoregap import provenance

    rec = provenance.read_record(out)  # the table records what made it
    assert rec["step"] == "evaluate" and rec["config"]["n_samples"] == 300 and rec["w_r"] == [0.0]
    assert rec["inputs"][str(folder / "truth_blob.npz")] == results.sha256(folder / "truth_blob.npz")


def test_evaluate_refuses_files_of_another_box_grid_data_set_or_size(tmp_path, capsys):
    out = tmp_path / "w2.csv"
    boxed = _results(tmp_path / "box", box=4.0)
    assert _evaluate(boxed, out, *SETTINGS) == 2
    err = _err(capsys)
    assert "box 4.0 (expected 3.5)" in err and "truth_blob.npz" in err and not out.exists()
    assert _evaluate(boxed, out, *SETTINGS, "box=4.0") == 0  # evaluated with its own box
    grid = _results(tmp_path / "grid", grid_n=32)
    assert _evaluate(grid, out, *SETTINGS) == 2 and "grid_n 32 (expected 64)" in _err(capsys)
    mixed = _results(tmp_path / "mixed")
    other = _results(tmp_path / "other", n=200)
    for f in ("blob_w0.0_sde.npz", "blob_w0.0_sde.npz.sha256"):
        shutil.copy(other / f, mixed / f)
    assert _evaluate(mixed, out, *SETTINGS) == 2
    err = _err(capsys)
    assert "blob_w0.0_sde.npz" in err and "n 200 (expected 300)" in err
    wrong = _results(tmp_path / "wrong")
    experiment.run_truth(config.make("quick", dataset="checker", n_samples=300), "checker", wrong / "truth_blob.npz")
    assert _evaluate(wrong, out, *SETTINGS) == 2
    assert "truth_blob.npz" in (err := _err(capsys)) and "dataset 'checker' (expected 'blob')" in err


def test_the_shipped_files_carry_records_that_evaluate_accepts():
    from scoregap import provenance

    cfg = config.make("cpu", dataset="checker", w_r=0.0)
    folder = ROOT / "data" / "results" / "cpu"
    provenance.check_result_file(folder / "samples" / "checker_w0.0_ode.npz", cfg, "checker", 0.0, "ode")
    provenance.check_result_file(folder / "truth" / "truth_checker.npz", cfg, "checker", None, "truth")
    rec = provenance.read_record(folder / "samples" / "checker_w0.0_sde.npz")
    assert rec["config"]["box"] == 3.5 and rec["inputs"]["model"] == results.sha256(ROOT / "data/checkpoints/cpu/checker_w0.0.pt")
    with pytest.raises(ValueError, match="n 1000000 \\(expected 4000\\)"):
        provenance.check_result_file(folder / "samples" / "checker_w0.0_ode.npz", config.make("quick"), "checker", 0.0, "ode")


# 4 ------------------------------------------------------------------------------------------------------------------
def test_workflow_schema_refuses_unknown_keys_and_negative_weights():
    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    schema = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(dict(base), schema)
    validate({**base, "w_r": ["5.0"], "datasets": ["checker"]}, schema)  # --config gives list items as text
    for bad in ({"dataset": ["checker"]}, {"w_R": [1.0]}, {"w_r": [-1.0]}, {"w_r": ["-1.0"]}, {"w_r": ["abc"]},
                {"threads": {"trian": 1}}, {"seeds": [-1]}):
        with pytest.raises(WorkflowError):
            validate({**base, **bad}, schema)


@pytest.mark.slow
def test_workflow_makes_a_requested_model_that_does_not_exist(tmp_path):
    """In a copy with the shipped files, asking for a model that was never trained is never 'Nothing to be done'."""
    import subprocess
    import sys

    snakemake = Path(sys.executable).parent / "snakemake"
    if not snakemake.exists():
        pytest.skip("snakemake is not installed")
    for d in ("scoregap", "workflow", "config", "profiles", "notebooks", "_toc.yml", "_config.yml"):
        if (ROOT / d).is_dir():
            shutil.copytree(ROOT / d, tmp_path / d, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        elif (ROOT / d).exists():
            shutil.copy(ROOT / d, tmp_path / d)
    for d in ("data/checkpoints/cpu", "data/results/cpu/samples", "data/results/cpu/truth"):
        shutil.copytree(ROOT / d, tmp_path / d)
    shutil.copy(ROOT / "data/results/cpu/w2.csv", tmp_path / "data/results/cpu/w2.csv")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("SCOREGAP_REFERENCE_DIR", None)
    p = subprocess.run([str(snakemake), "-n", "--cores", "2", "--config", "preset=cpu", "w_r=[5.0]", "datasets=[checker]"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out[-3000:]
    assert "Nothing to be done" not in out
    assert "checker_w5.0.pt" in out and "w2_checker_w5.0.csv" in out


# 5 ------------------------------------------------------------------------------------------------------------------
def test_divergent_training_stops_with_a_clear_error_and_writes_no_checkpoint(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert cli.main(["train", *TINY, "lrs=1e6,1e6,1e6", "--out", str(out)]) == 1
    err = _err(capsys)
    assert "non-finite" in err and "lrs" in err
    assert not out.exists() and not Path(str(out) + ".sha256").exists()


def test_sampling_a_model_with_non_finite_scores_fails_at_the_first_batch():
    calls = []

    def nan_score(x, t):
        calls.append(x.shape[0])
        return torch.full_like(x, float("nan"))

    with pytest.raises(FloatingPointError, match="rows 0–99"):
        samplers.sample(nan_score, 1_000, nfe=20, schedule="uniform", batch_size=100, progress=False)
    assert len(calls) == 20  # one batch's steps, not ten


def test_no_table_row_with_nan_is_written(tmp_path, capsys):
    model, cfg, summary = results.load_checkpoint(CKPT)
    state = {k: torch.full_like(v, float("nan")) for k, v in model.state_dict().items()}
    results.save_checkpoint(tmp_path / "ck" / "blob_w0.0.pt", state, cfg, summary)
    out = tmp_path / "res.csv"
    assert cli.main(["residuals", "--checkpoint-dir", str(tmp_path / "ck"), "--n-x", "50", "--n-t", "2", "--out", str(out)]) == 1
    assert "not finite" in _err(capsys) and not out.exists()
    with pytest.raises(FloatingPointError, match="blob_w0.0: ode_truth"):
        cli.refuse_nonfinite([{"dataset": "blob", "w_r": 0.0, "ode_truth": float("nan"), "sde_truth": 0.1}], ("ode_truth", "sde_truth"), "--out")


# 6 ------------------------------------------------------------------------------------------------------------------
def _writer(path: str, payload: bytes, barrier, rounds: int) -> None:
    barrier.wait()
    for _ in range(rounds):
        results.write_checked(path, payload)


def _reader(path: str, barrier, stop, bad) -> None:
    barrier.wait()
    while not stop.is_set():
        try:
            results.verify(path)
        except results.CorruptFileError:
            bad.value += 1
        except FileNotFoundError:
            pass


def test_concurrent_writers_never_leave_a_mismatched_pair(tmp_path):
    ctx = mp.get_context("fork")
    payloads = [bytes([i]) * 100_000 for i in range(2)]
    bad = ctx.Value("i", 0)
    for trial in range(20):
        path = str(tmp_path / f"r{trial}.npz")
        barrier, stop = ctx.Barrier(3), ctx.Event()
        writers = [ctx.Process(target=_writer, args=(path, p, barrier, 3)) for p in payloads]
        reader = ctx.Process(target=_reader, args=(path, barrier, stop, bad))
        for p in (*writers, reader):
            p.start()
        for p in writers:
            p.join(30)
        stop.set()
        reader.join(30)
        assert all(p.exitcode == 0 for p in writers)
        results.verify(path)  # the pair left behind matches
        assert Path(path).read_bytes() in payloads
    assert bad.value == 0, f"a reader saw {bad.value} mismatched pairs"


# 7 ------------------------------------------------------------------------------------------------------------------
def test_errors_are_one_line_with_exit_status_and_tracebacks_only_with_debug(tmp_path, capsys):
    ck = _copy_checkpoint(tmp_path / "ck")
    side = Path(str(ck) + ".sha256")
    side.write_text("")
    args = ["sample", "--preset", "quick", "--no-progress", "--checkpoint", str(ck), "--method", "ode", "--out", str(tmp_path / "s.npz")]
    assert cli.main(args) == 1
    assert "empty" in _err(capsys)
    ck.write_bytes(b"not a torch file")
    side.write_text(f"{results.sha256(ck)}  {ck.name}\n")
    assert cli.main(args) == 1
    assert "not a readable torch file" in _err(capsys)
    with pytest.raises(results.CorruptFileError):
        cli.main([*args, "--debug"])
    with pytest.raises(SystemExit) as e:
        cli.main(["sample", "--threads", "-1", "--checkpoint", str(CKPT), "--out", "x.npz"])
    assert e.value.code == 2 and "--threads" in _err(capsys)
    assert cli.main(["sample", "--preset", "quick", "--checkpoint", str(tmp_path / "missing.pt"), "--out", "x.npz"]) == 2
    assert "missing.pt" in _err(capsys)


# 8 ------------------------------------------------------------------------------------------------------------------
def test_sizes_are_bounded_before_any_work(tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert cli.main(["sample", "--set", "n_samples=1e12", "--checkpoint", str(CKPT), "--method", "ode", "--out", str(out)]) == 2
    err = _err(capsys)
    assert "n_samples" in err and "memory" in err
    with pytest.raises(ValueError, match="n_samples"):
        config.make("cpu", n_samples=10**15)
    for b in (-3, 0):
        with pytest.raises(ValueError, match="batch_size"):
            samplers.sample(lambda x, t: -2 * x, 10, nfe=20, schedule="uniform", batch_size=b, progress=False)
    for argv, word in ((["sample", "--threads", "1000", "--checkpoint", str(CKPT), "--out", str(out)], "--threads"),
                       (["evaluate", "--samples-dir", str(tmp_path), "--floor-repeats", "-3", "--out", str(out)], "--floor-repeats"),
                       (["solver-study", "--floor-repeats", "0", "--out", str(out)], "--floor-repeats")):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2 and word in _err(capsys)


def test_sampling_draws_the_prior_per_batch(monkeypatch):
    """Memory does not grow with n beyond the output: x_T is drawn in blocks, with the same numbers as one draw."""
    from scoregap import sde

    block = getattr(samplers, "PRIOR_BLOCK", 65_536)
    n = 3 * block + 5
    whole = samplers.sample(lambda x, t: -2 * x, n, method="sde", nfe=2, schedule="uniform", seed=4, batch_size=50_000,
                            progress=False, x_T=sde.sample_prior(n, generator=torch.Generator().manual_seed(4)))
    sizes = []
    cls = type(sde.OU)  # the samplers draw x_T through the forward SDE's own prior
    real = cls.sample_prior
    monkeypatch.setattr(cls, "sample_prior", lambda self, m, **k: sizes.append(m) or real(self, m, **k))
    blocks = samplers.sample(lambda x, t: -2 * x, n, method="ode", nfe=2, schedule="uniform", seed=4, batch_size=50_000, progress=False)
    assert max(sizes) <= block + 7
    ode_whole = samplers.sample(lambda x, t: -2 * x, n, method="ode", nfe=2, schedule="uniform", seed=4, batch_size=50_000, progress=False,
                                x_T=real(sde.OU, n, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(blocks, ode_whole) and whole.shape == (n, 2)


# 9 ------------------------------------------------------------------------------------------------------------------
def test_outputs_get_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        results.write_checked(tmp_path / "a.npz", b"x")
        results.atomic_write_text(tmp_path / "b.csv", "y")
    finally:
        os.umask(old)
    for f in ("a.npz", "a.npz.sha256", "b.csv"):
        assert stat.S_IMODE((tmp_path / f).stat().st_mode) == 0o644, f


def test_a_bad_histogram_is_refused_naming_the_file(tmp_path, capsys):
    folder = _results(tmp_path / "r")
    d = results.load_npz(folder / "blob_w0.0_ode.npz")
    d["hist"] = np.full_like(d["hist"], np.nan)
    results.save_npz(folder / "blob_w0.0_ode.npz", **d)
    assert _evaluate(folder, tmp_path / "w2.csv", *SETTINGS) == 2
    err = _err(capsys)
    assert "blob_w0.0_ode.npz" in err and "non-finite" in err
    d["hist"] = np.ones(100) / 100
    results.save_npz(folder / "blob_w0.0_ode.npz", **d)
    assert _evaluate(folder, tmp_path / "w2.csv", *SETTINGS) == 2
    assert "blob_w0.0_ode.npz" in (err := _err(capsys)) and "grid_n 10" in err


def test_w_r_that_is_not_a_number_names_the_option(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--w-r", "abc", "--out", "x.pt"])
    assert e.value.code == 2 and "--w-r" in _err(capsys)


def test_a_notebook_run_without_figure_dir_leaves_the_build_figures_alone(monkeypatch):
    from scoregap import book

    monkeypatch.delenv("SCOREGAP_FIGURE_DIR", raising=False)
    b = book.setup("true_dynamics", preset="quick")
    build = ROOT / "book" / "executed" / "figures"
    assert build not in b.figure_dir.resolve().parents
    monkeypatch.setenv("SCOREGAP_FIGURE_DIR", str(build / "quick"))  # what the book build sets
    assert book.setup("true_dynamics", preset="quick").figure_dir == build / "quick"
    assert 'SCOREGAP_FIGURE_DIR="$PWD/book/executed/figures/{PRESET}"' in (ROOT / "workflow/rules/notebooks.smk").read_text()
