"""Tables carry records: every reader of a table (evaluation.read_table, quantities.read_rows, solver_study.read,
seeds.read_rows) checks it against its `<table>.record.json` (the table's sha256) and refuses, in one line naming the
file and the fix, a table without a record or one changed after it was written. The commands that write tables write
the record the readers check; `residuals` reads only the grid's seed-0 checkpoints. Tiny sizes; shipped files are only
read."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from scoregap import cli, evaluation, provenance, quantities, results, seeds, solver_study

ROOT = Path(__file__).resolve().parent.parent
CKPT = ROOT / "data" / "checkpoints" / "cpu" / "blob_w0.0.pt"
READERS = {
    "evaluation.read_table": evaluation.read_table,
    "quantities.read_rows": lambda p: quantities.read_rows(p.name, root=p.parent),
    "solver_study.read": solver_study.read,
    "seeds.read_rows": seeds.read_rows,
}


def _one_line(err: Exception) -> str:
    msg = str(err)
    assert len(msg.splitlines()) == 1, f"not one line: {msg}"
    return msg


def _copy_table(rel: str, dest: Path, record: bool = True) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    src = ROOT / rel
    shutil.copy(src, dest / src.name)
    if record:
        shutil.copy(provenance.sidecar(src), provenance.sidecar(dest / src.name))
    return dest / src.name


@pytest.mark.parametrize("rel", list(provenance.SHIPPED_TABLES))
def test_shipped_tables_pass_and_their_records_name_what_made_them(rel):
    path = ROOT / rel
    provenance.check_table(path)
    rec = provenance.read_record(path)
    assert rec["sha256"] == results.sha256(path) if Path(str(path) + ".sha256").is_file() else True
    assert rec["command"].startswith("python -m scoregap ") and rec["command"] == provenance.SHIPPED_TABLES[rel][2]
    for name, digest in rec["inputs"].items():  # each shipped input is recorded as shipped
        if (ROOT / name).is_file():
            assert digest == provenance.file_sha256(ROOT / name), name
    assert provenance.backfill_tables(ROOT) == []  # nothing left without a record


def test_shipped_table_records_list_their_shipped_inputs():
    rec = provenance.read_record(ROOT / "data/results/cpu/w2.csv")
    assert "data/checkpoints/cpu/checker_w10.0.pt" in rec["inputs"] and "data/results/cpu/truth/truth_blob.npz" in rec["inputs"]
    assert len([n for n in rec["inputs"] if n.endswith(".npz")]) == 24 + 3 and rec["config"]["n_samples"] == 1_000_000


@pytest.mark.parametrize("reader", list(READERS))
def test_a_tampered_table_is_refused_by_every_reader(tmp_path, reader):
    path = _copy_table("data/results/cpu/w2.csv", tmp_path)
    READERS["evaluation.read_table"](path)  # the untouched copy passes
    text = path.read_text()
    path.write_text(text.replace("0.0433154", "0.0333154", 1))
    assert path.read_text() != text
    with pytest.raises(ValueError) as err:
        READERS[reader](path)
    msg = _one_line(err.value)
    assert str(path) in msg and "changed after it was written" in msg and "git checkout" in msg


@pytest.mark.parametrize("reader", list(READERS))
def test_a_table_without_record_is_refused_by_every_reader(tmp_path, reader):
    path = _copy_table("data/results/cpu/solver_study.csv", tmp_path, record=False)
    with pytest.raises(ValueError) as err:
        READERS[reader](path)
    msg = _one_line(err.value)
    assert str(path) in msg and "has no record" in msg and "solver_study.csv.record.json" in msg


def test_a_record_without_the_tables_sha256_is_refused(tmp_path):
    path = _copy_table("data/results/residuals.csv", tmp_path)
    side = provenance.sidecar(path)
    rec = json.loads(side.read_text())
    del rec["sha256"]
    side.write_text(json.dumps(rec))
    with pytest.raises(ValueError, match="holds no sha256"):
        quantities.read_rows(path.name, root=tmp_path)


def test_backfill_gives_a_table_without_record_one_and_then_checks_it(tmp_path):
    rel = "data/results/gaussian_bound.csv"
    path = _copy_table(rel, tmp_path / Path(rel).parent, record=False)
    assert provenance.backfill_tables(tmp_path) == [path]
    assert provenance.backfill_tables(tmp_path) == []  # one record, never rewritten
    rec = provenance.read_record(path)
    assert rec["backfilled"] and rec["code"] is None and rec["command"] == provenance.SHIPPED_TABLES[rel][2]
    quantities.read_rows(rel, root=tmp_path)
    path.write_text(path.read_text() + "extra,1,2,3\n")
    with pytest.raises(ValueError, match="changed after it was written"):
        quantities.read_rows(rel, root=tmp_path)


def test_bound_writes_the_record_its_readers_check(tmp_path, monkeypatch):
    from scoregap import gaussian

    monkeypatch.setattr(gaussian, "gap", lambda s: 1.0)  # the record is under test here, not the (slow) numbers
    monkeypatch.setattr(gaussian, "coupling_bound", lambda s: 2.0)
    out = tmp_path / "gaussian_bound.csv"
    assert cli.main(["bound", "--out", str(out)]) == 0
    assert provenance.read_record(out)["step"] == "bound"
    rows = quantities.read_rows(out.name, root=tmp_path)
    assert [r["member"] for r in rows] == [r["member"] for r in quantities.read_rows(quantities.GAUSSIAN)]


def test_seed_tables_carry_the_sha256_their_reader_checks(tmp_path):
    out = tmp_path / "w2_seeds_summary.csv"
    rows = [{"dataset": "blob", "w_r": 0.0, "seeds": 3, "n": 100}]
    seeds.write_table(rows, ["dataset", "w_r", "seeds", "n"], out, provenance.make_record("seed_table", None, {"in": CKPT}))
    assert seeds.read_rows(out) == [{"dataset": "blob", "w_r": 0.0, "seeds": 3, "n": 100}]
    assert provenance.read_record(out)["code"] == provenance.code_hash("seed_table")
    out.write_text(out.read_text().replace(",3,", ",4,"))
    with pytest.raises(ValueError, match="changed after it was written"):
        seeds.read_rows(out)


# residuals: only the grid's seed-0 checkpoints -------------------------------------------------------------------------
def test_residuals_reads_only_the_grids_seed_zero_checkpoints(tmp_path, capsys):
    ck = tmp_path / "ck"
    ck.mkdir()
    for f in (CKPT, Path(str(CKPT) + ".sha256")):
        shutil.copy(f, ck / f.name)
    # a seed study's checkpoint, a training snapshot, a saved state and a non-grid model: not checkpoints of the grid
    decoys = ["blob_w0.0_s1.pt", "blob_w0.0.step7000.pt", "blob_w0.0.pt.state.pt", "blob_w0.0.state.pt", "moons_w0.0.pt"]
    for name in decoys:
        (ck / name).write_bytes(b"not a checkpoint")
    assert cli.grid_checkpoints(ck) == [ck / "blob_w0.0.pt"]
    out = tmp_path / "residuals.csv"
    assert cli.main(["residuals", "--checkpoint-dir", str(ck), "--n-x", "20", "--n-t", "2", "--out", str(out)]) == 0
    rows = quantities.read_rows(out.name, root=tmp_path)  # the record it wrote is the one its reader checks
    assert [(r["dataset"], r["w_r"]) for r in rows] == [("blob", 0.0)]
    rec = provenance.read_record(out)
    assert rec["step"] == "residuals" and list(rec["inputs"]) == [str(ck / "blob_w0.0.pt")]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blob_w0.0_s1.pt").write_bytes(b"x")
    capsys.readouterr()
    assert cli.main(["residuals", "--checkpoint-dir", str(empty), "--out", str(tmp_path / "r2.csv")]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--checkpoint-dir" in err and not (tmp_path / "r2.csv").exists()
