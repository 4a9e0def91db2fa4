"""Figure reproducibility: save every book figure with the numbers that determine it, compare against references.

* `save_figure(name, fig, numbers, outdir)` writes `<outdir>/<name>.png` (fixed dpi, no time stamp) and
  `<outdir>/<name>.json` (the numbers, plus provenance).
* `compare(name, outdir, refdir)` compares a saved figure with the reference in `refdir` (the files
  of the CI preset live in data/figure_refs/<preset>/): every number within its tolerance and the
  image within an RMS tolerance (`matplotlib.testing.compare.compare_images`). Tolerances come from
  data/figure_refs/tolerances.json: each number may move by `sigma_fraction` of its own measured
  seed-to-seed Monte Carlo standard deviation (stored beside the reference as `<name>.noise.json`),
  and never less than `atol + rtol·|reference|` (floating-point differences between machines).
* `python -m scoregap.figures update-references` executes every notebook at the CI preset and
  replaces the references; `--measure-noise` also reruns with other seeds and rewrites the
  tolerance file from the measured Monte Carlo noise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
"""Repository root (the package lives in <root>/scoregap)."""
NOTEBOOK_DIR = ROOT / "notebooks"
REF_DIR = ROOT / "data" / "figure_refs"
TOLERANCE_FILE = REF_DIR / "tolerances.json"
TOC_FILE = ROOT / "_toc.yml"
"""The book's table of contents: the one list of its chapters."""


def chapters(toc=TOC_FILE) -> tuple[str, ...]:
    """The executed chapters in reading order: the entries `book/executed/<name>` of _toc.yml (notebooks/<name>.md)."""
    import yaml

    def files(entries):
        for e in entries or []:
            if "file" in e:
                yield str(e["file"])
            yield from files(e.get("sections"))
            for part in e.get("parts") or []:
                yield from files(part.get("chapters"))

    d = yaml.safe_load(Path(toc).read_text())
    names = [*files(d.get("chapters")), *files([c for p in d.get("parts") or [] for c in p.get("chapters") or []])]
    return tuple(f.split("/")[-1] for f in names if f.startswith("book/executed/"))


NOTEBOOKS = chapters()
"""The book's chapters in reading order (notebooks/<name>.md), read from _toc.yml."""
CI_PRESET = "quick"
DEFAULT_SEED = 1
"""The notebooks' default `seed` parameter (the references are made with it)."""
DPI = 100

DEFAULT_TOLERANCE = {"sigma_fraction": 0.5, "rtol": 1e-5, "atol": 1e-9, "rms": 0.5}


# --------------------------------------------------------------------------------------------- save

def _to_jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else repr(v)  # 'nan', 'inf' as strings (valid JSON)
    if isinstance(obj, (np.integer, int)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item"):
        return _to_jsonable(obj.item())
    raise TypeError(f"cannot store {type(obj).__name__} in a figure's numbers")


def block_sums(hist, block: int = 8, n: int = 64) -> list:
    """A histogram (n² vector) summed over block × block cells: the coarse numbers behind a density panel."""
    h = np.asarray(hist, dtype=float).reshape(n, n)
    m = n // block
    return h[: m * block, : m * block].reshape(m, block, m, block).sum(axis=(1, 3)).round(12).tolist()


def save_figure(name: str, fig, numbers: dict, outdir, meta: dict | None = None) -> Path:
    """Save `fig` as <outdir>/<name>.png and `numbers` (the values that determine it) as <outdir>/<name>.json."""
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    png = outdir / f"{name}.png"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    payload = {"name": name, "numbers": _to_jsonable(numbers), "meta": _to_jsonable(meta or {})}
    tmp = outdir / f".{name}.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, outdir / f"{name}.json")
    return png


def _data_fingerprint_files() -> list[Path]:
    data = ROOT / "data"
    if not data.is_dir():
        return []
    files = [p for p in data.rglob("*") if p.is_file() and "figure_refs" not in p.parts
             and (p.suffix in (".sha256", ".csv", ".json"))]
    return sorted(files)


def source_hash(notebook: str | None = None) -> str:
    """sha256 over what determines a chapter's figures: the scoregap sources, the notebook, and the shipped data
    (checksum sidecars, CSV and JSON files under data/, reference figures excluded)."""
    h = hashlib.sha256()
    files = sorted((ROOT / "scoregap").glob("*.py"))
    if notebook:
        files.append(NOTEBOOK_DIR / f"{notebook}.md")
    files += _data_fingerprint_files()
    for f in files:
        if f.is_file():
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------------------ compare

def flatten(obj, prefix: str = "") -> dict:
    """Nested dicts/lists → {'a.b[0][1]': value}."""
    out = {}
    if isinstance(obj, dict):
        for k in sorted(obj):
            out.update(flatten(obj[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}[{i}]"))
    else:
        out[prefix] = obj
    return out


def _num(v):
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    return None


def load_tolerances(path=TOLERANCE_FILE) -> dict:
    """The tolerance file ({'default': {...}, 'figures': {name: {...}}}); defaults if it does not exist."""
    path = Path(path)
    if not path.is_file():
        return {"default": dict(DEFAULT_TOLERANCE), "figures": {}}
    return json.loads(path.read_text())


def tolerance_for(name: str, tolerances: dict) -> dict:
    tol = dict(DEFAULT_TOLERANCE)
    tol.update(tolerances.get("default", {}))
    tol.update(tolerances.get("figures", {}).get(name, {}))
    return tol


@dataclass
class Comparison:
    """Outcome of comparing one figure with its reference."""

    name: str
    passed: bool
    largest_difference: float = 0.0
    """Largest |new - reference| over the figure's numbers."""
    largest_key: str = ""
    largest_in_sigma: float = 0.0
    """Largest |new - reference| / (its measured Monte Carlo standard deviation); 0 where that is 0."""
    image_rms: float = 0.0
    image_tol: float = 0.0
    problems: list = field(default_factory=list)

    def line(self) -> str:
        """One line: name, PASS/FAIL, largest difference."""
        status = "PASS" if self.passed else "FAIL"
        s = (f"{self.name}: {status}  largest |Δ| = {self.largest_difference:.3g}"
             f"{f' at {self.largest_key}' if self.largest_key else ''}"
             f"{f' ({self.largest_in_sigma:.2g} σ_MC)' if self.largest_in_sigma else ''}"
             f"; image RMS {self.image_rms:.3g} (tol {self.image_tol:.3g})")
        if self.problems:
            s += " — " + "; ".join(self.problems[:3]) + (f" (+{len(self.problems) - 3} more)" if len(self.problems) > 3 else "")
        return s


def compare(name: str, outdir, refdir, tolerances: dict | str | Path | None = None) -> Comparison:
    """Compare <outdir>/<name>.{json,png} with <refdir>/<name>.{json,png} (and <refdir>/<name>.noise.json)."""
    from matplotlib.testing.compare import compare_images
    from matplotlib.testing.exceptions import ImageComparisonFailure

    outdir, refdir = Path(outdir), Path(refdir)
    if tolerances is None or isinstance(tolerances, (str, Path)):
        tolerances = load_tolerances(tolerances or (refdir.parent / "tolerances.json"))
    tol = tolerance_for(name, tolerances)
    res = Comparison(name=name, passed=True, image_tol=float(tol["rms"]))
    files = {"new numbers": outdir / f"{name}.json", "new image": outdir / f"{name}.png",
             "reference numbers": refdir / f"{name}.json", "reference image": refdir / f"{name}.png"}
    missing = [k for k, p in files.items() if not p.is_file()]
    if missing:
        res.passed = False
        res.problems.append("missing " + ", ".join(missing) + (" (run `python -m scoregap.figures update-references`)"
                                                               if any(k.startswith("reference") for k in missing) else ""))
        return res
    new = flatten(json.loads(files["new numbers"].read_text())["numbers"])
    ref = flatten(json.loads(files["reference numbers"].read_text())["numbers"])
    noise_file = refdir / f"{name}.noise.json"
    sigma = flatten(json.loads(noise_file.read_text())["sigma"]) if noise_file.is_file() else {}
    for key in sorted(set(new) | set(ref)):
        if key not in new or key not in ref:
            res.passed = False
            res.problems.append(f"number {key} only in the {'reference' if key in ref else 'new figure'}")
            continue
        a, b = _num(new[key]), _num(ref[key])
        if a is None or b is None:
            if new[key] != ref[key]:
                res.passed = False
                res.problems.append(f"{key}: {new[key]!r} != {ref[key]!r}")
            continue
        if math.isnan(a) and math.isnan(b):
            continue
        d = abs(a - b) if not (math.isinf(a) and a == b) else 0.0
        s = float(sigma.get(key, 0.0) or 0.0)
        allowed = max(float(tol["sigma_fraction"]) * s, float(tol["atol"]) + float(tol["rtol"]) * abs(b))
        if not math.isfinite(d) or d > res.largest_difference or (math.isnan(d)):
            res.largest_difference, res.largest_key = (d if math.isfinite(d) else float("inf")), key
        if s > 0:
            res.largest_in_sigma = max(res.largest_in_sigma, d / s)
        if not d <= allowed:
            res.passed = False
            res.problems.append(f"{key}: {a:.6g} vs reference {b:.6g} (allowed ±{allowed:.3g})")
    try:
        out = compare_images(str(files["reference image"]), str(files["new image"]), tol=0, in_decorator=True)
        res.image_rms = 0.0 if out is None else float(out["rms"])
    except ImageComparisonFailure as err:
        res.passed = False
        res.image_rms = float("inf")
        res.problems.append(f"image: {str(err).splitlines()[0]}")
        return res
    if res.image_rms > res.image_tol:
        res.passed = False
        res.problems.append(f"image RMS {res.image_rms:.3g} > {res.image_tol:.3g}")
    return res


def figure_names(directory) -> list[str]:
    """Names of the figures saved in a directory (those with both .png and .json)."""
    d = Path(directory)
    return sorted(p.stem for p in d.glob("*.json") if not p.name.endswith(".noise.json") and (d / f"{p.stem}.png").is_file())


def figures_of(notebook: str, directory) -> list[str]:
    """Figures in `directory` produced by `notebook` (recorded in their JSON meta)."""
    out = []
    for n in figure_names(directory):
        meta = json.loads((Path(directory) / f"{n}.json").read_text()).get("meta", {})
        if meta.get("notebook") == notebook:
            out.append(n)
    return out


# ---------------------------------------------------------------------------------------- execution

def execute_notebook(name: str, outdir, parameters: dict | None = None, figure_dir=None, cache_dir=None,
                     timeout: int = 1800, log=None) -> dict:
    """Execute notebooks/<name>.md with papermill (parameters injected) into <outdir>/<name>.ipynb.

    Returns {'name', 'seconds', 'path'}. Environment: SCOREGAP_FIGURE_DIR and SCOREGAP_CACHE_DIR point
    the notebook's outputs where asked (the kernel inherits the environment).
    """
    import jupytext
    import nbformat
    import papermill as pm

    src = NOTEBOOK_DIR / f"{name}.md"
    if not src.is_file():
        raise FileNotFoundError(f"no notebook {src}")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    nb.metadata.setdefault("kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"})
    tmp_in = outdir / f".{name}.input.ipynb"
    nbformat.write(nb, tmp_in)
    params = dict(parameters or {})
    if figure_dir is not None:
        params["figure_dir"] = str(figure_dir)
    env_backup = {k: os.environ.get(k) for k in ("SCOREGAP_CACHE_DIR",)}
    if cache_dir is not None:
        os.environ["SCOREGAP_CACHE_DIR"] = str(cache_dir)
    t0 = time.perf_counter()
    try:
        pm.execute_notebook(str(tmp_in), str(outdir / f"{name}.ipynb"), parameters=params, kernel_name="python3",
                            progress_bar=False, cwd=str(NOTEBOOK_DIR), execution_timeout=timeout)
    finally:
        for k, v in env_backup.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        tmp_in.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    if log:
        log(f"executed {name} in {seconds:.1f} s")
    return {"name": name, "seconds": seconds, "path": str(outdir / f"{name}.ipynb")}


def output_problems(ipynb) -> list[str]:
    """Cells of an executed notebook whose outputs show a traceback, an error or a raw warning."""
    import nbformat

    nb = nbformat.read(str(ipynb), as_version=4)
    bad = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            if out.get("output_type") == "error":
                bad.append(f"cell {i}: error {out.get('ename')}: {out.get('evalue')}")
            elif out.get("name") == "stderr" and text.strip():
                bad.append(f"cell {i}: stderr output: {text.strip().splitlines()[0][:120]}")
            elif "Traceback" in text or "Warning:" in text:
                bad.append(f"cell {i}: {text.strip().splitlines()[0][:120]}")
    return bad


# ------------------------------------------------------------------------------------------- update

def _run_all(notebooks, preset: str, seed: int, workdir: Path, log) -> tuple[Path, dict]:
    figdir = workdir / f"figures_seed{seed}"
    times = {}
    for name in notebooks:
        r = execute_notebook(name, workdir / f"executed_seed{seed}", parameters={"preset": preset, "seed": seed},
                             figure_dir=figdir, cache_dir=workdir / f"cache_seed{seed}", log=log)
        times[name] = r["seconds"]
        bad = output_problems(r["path"])
        if bad:
            raise RuntimeError(f"notebook {name} printed problems: " + "; ".join(bad[:5]))
    return figdir, times


FLOAT_NOISE = 1e-9
"""Seed-to-seed changes below this relative size are floating-point reduction-order noise, not Monte Carlo noise."""
IMAGE_FRACTION = 0.1
"""Image tolerance: this fraction of the smallest seed-to-seed RMS (a reseed changes an image ten times more)."""


def measure_noise(ref_figdir: Path, other_figdirs: list[Path], names: list[str]) -> dict:
    """Per figure: per-number standard deviation over seeds and the image RMS between seeds."""
    from matplotlib.testing.compare import compare_images

    out = {}
    for n in names:
        runs = [flatten(json.loads((Path(d) / f"{n}.json").read_text())["numbers"]) for d in [ref_figdir, *other_figdirs]]
        sigma = {}
        for key in runs[0]:
            vals = [_num(r.get(key)) for r in runs]
            if any(v is None for v in vals) or any(not math.isfinite(v) for v in vals):
                continue
            sd = float(np.std(vals, ddof=1))
            sigma[key] = sd if sd > FLOAT_NOISE * max(abs(v) for v in vals) + 1e-15 else 0.0
        rms = []
        for d in other_figdirs:
            r = compare_images(str(Path(ref_figdir) / f"{n}.png"), str(Path(d) / f"{n}.png"), tol=0, in_decorator=True)
            rms.append(0.0 if r is None else float(r["rms"]))
        rel = [sigma[k] / abs(_num(runs[0][k])) for k in sigma if sigma[k] > 0 and _num(runs[0][k])]
        out[n] = {"sigma": sigma, "image_rms_between_seeds": rms, "n_numbers": len(runs[0]),
                  "n_random": sum(1 for v in sigma.values() if v > 0),
                  "median_relative_sigma": float(np.median(rel)) if rel else 0.0}
    return out


def write_tolerances(noise: dict, seeds: list[int], preset: str, path=TOLERANCE_FILE, sigma_fraction: float = 0.5) -> dict:
    """Tolerance file from measured noise; every entry carries its justification."""
    figs = {}
    for n, m in sorted(noise.items()):
        rms_seeds = list(m["image_rms_between_seeds"])
        min_rms = min(rms_seeds) if rms_seeds else 0.0
        if m["n_random"] == 0 and min_rms == 0.0:
            figs[n] = {"sigma_fraction": sigma_fraction, "rtol": 1e-5, "atol": 1e-9, "rms": 0.5,
                       "justification": (f"Deterministic figure: its {m['n_numbers']} numbers agree to floating-point noise "
                                         f"(relative < {FLOAT_NOISE:g}) and its image is identical for seeds {seeds}: no Monte Carlo "
                                         "noise. rtol 1e-5 / atol 1e-9 cover float32 rounding differences between CPUs; RMS 0.5 "
                                         "(of 255) covers anti-aliasing differences only.")}
            continue
        rms_tol = round(max(0.5, IMAGE_FRACTION * min_rms), 3)
        if m["n_random"] == 0:
            numbers = (f"its {m['n_numbers']} numbers do not depend on the seed (deterministic; rtol 1e-5 / atol 1e-9 "
                       "cover float32 rounding between CPUs)")
        else:
            numbers = (f"{m['n_random']} of its {m['n_numbers']} numbers change with the seed (median relative seed-to-seed std "
                       f"{m['median_relative_sigma']:.3g}); each may move by {sigma_fraction} of its own measured std (stored in "
                       f"{n}.noise.json) — less than a reseed moves it, far more than floating-point differences between "
                       "machines; the seed-independent ones by rtol 1e-5 / atol 1e-9")
        figs[n] = {"sigma_fraction": sigma_fraction, "rtol": 1e-5, "atol": 1e-9, "rms": rms_tol,
                   "justification": (f"Monte Carlo figure (seeds {seeds}, preset {preset}): {numbers}. Image RMS between seeds "
                                     f"{', '.join(f'{r:.3g}' for r in rms_seeds)}; tolerance {IMAGE_FRACTION:g} × the smallest "
                                     "(at least 0.5).")}
    tol = {"about": ("Tolerances of tests/test_figures.py, written by `python -m scoregap.figures update-references --measure-noise`. "
                     "A number passes if |new - ref| <= max(sigma_fraction * sigma_MC, atol + rtol * |ref|), with sigma_MC its "
                     "seed-to-seed standard deviation measured by rerunning the notebooks with other seeds; an image passes if "
                     "its RMS difference (matplotlib.testing.compare.compare_images, 0-255 scale) <= rms."),
           "preset": preset, "seeds": seeds, "default": dict(DEFAULT_TOLERANCE), "figures": figs}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(tol, indent=1, sort_keys=True) + "\n")
    return tol


def tolerances_from_runs(workdir, preset: str = CI_PRESET, refdir=REF_DIR, seeds=(DEFAULT_SEED, DEFAULT_SEED + 10, DEFAULT_SEED + 20)) -> dict:
    """Rewrite the noise files and the tolerance file from runs kept by `update-references --measure-noise --keep DIR`."""
    workdir, refdir = Path(workdir), Path(refdir)
    dirs = [workdir / f"figures_seed{s}" for s in seeds]
    names = figure_names(dirs[0])
    noise = measure_noise(dirs[0], dirs[1:], names)
    for n, m in noise.items():
        (refdir / preset / f"{n}.noise.json").write_text(json.dumps({"name": n, "seeds": list(seeds), "sigma": m["sigma"]},
                                                                    indent=1, sort_keys=True) + "\n")
    return write_tolerances(noise, list(seeds), preset, path=refdir / "tolerances.json")


def update_references(notebooks=NOTEBOOKS, preset: str = CI_PRESET, refdir=REF_DIR, measure: bool = False,
                      noise_seeds: tuple = (DEFAULT_SEED + 10, DEFAULT_SEED + 20), keep: str | None = None, log=print) -> dict:
    """Execute the notebooks at `preset` and store their figures as references in <refdir>/<preset>/."""
    refdir = Path(refdir)
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="scoregap-refs-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        figdir, times = _run_all(notebooks, preset, DEFAULT_SEED, work, log)
        names = [n for nb in notebooks for n in figures_of(nb, figdir)]
        target = refdir / preset
        target.mkdir(parents=True, exist_ok=True)
        # replace the figures of the re-run notebooks; keep their measured noise unless it is measured again
        old = [target / f"{n}.{ext}" for nb in notebooks for n in figures_of(nb, target) for ext in ("png", "json")]
        if measure:
            old += [target / f"{n}.noise.json" for nb in notebooks for n in figures_of(nb, target)]
        for p in old:
            p.unlink(missing_ok=True)
        for n in names:
            for ext in ("png", "json"):
                shutil.copy2(figdir / f"{n}.{ext}", target / f"{n}.{ext}")
        log(f"stored {len(names)} reference figures in {target}")
        if measure:
            others = []
            for s in noise_seeds:
                d, _ = _run_all(notebooks, preset, s, work, log)
                others.append(d)
            noise = measure_noise(figdir, others, names)
            for n, m in noise.items():
                (target / f"{n}.noise.json").write_text(json.dumps({"name": n, "seeds": [DEFAULT_SEED, *noise_seeds],
                                                                    "sigma": m["sigma"]}, indent=1, sort_keys=True) + "\n")
            tolpath = refdir / "tolerances.json"
            existing = load_tolerances(tolpath)
            tol = write_tolerances(noise, [DEFAULT_SEED, *noise_seeds], preset, path=tolpath)
            if set(existing.get("figures", {})) - set(tol["figures"]):  # keep entries of notebooks not rerun
                tol["figures"] = {**{k: v for k, v in existing["figures"].items() if k not in tol["figures"]}, **tol["figures"]}
                tolpath.write_text(json.dumps(tol, indent=1, sort_keys=True) + "\n")
            log(f"measured Monte Carlo noise with seeds {[DEFAULT_SEED, *noise_seeds]}; wrote {tolpath}")
        timing_file = refdir / preset / "_timings.json"
        old_times = json.loads(timing_file.read_text()) if timing_file.is_file() else {}  # keep notebooks not rerun
        timing_file.write_text(json.dumps({**old_times, **{k: round(v, 1) for k, v in times.items()}}, indent=1) + "\n")
        return {"figures": names, "seconds": times}
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def compare_dir(outdir, refdir=REF_DIR / CI_PRESET, names=None) -> list[Comparison]:
    """Compare every reference figure (or `names`) with the figure of the same name in `outdir`."""
    names = names or figure_names(refdir)
    tol = load_tolerances(Path(refdir).parent / "tolerances.json")
    return [compare(n, outdir, refdir, tol) for n in names]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scoregap.figures", description="Book figure references: update and compare.")
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser("update-references", help="execute the notebooks at the CI preset and store their figures as references")
    u.add_argument("--preset", default=CI_PRESET)
    u.add_argument("--notebooks", nargs="+", default=list(NOTEBOOKS), choices=NOTEBOOKS)
    u.add_argument("--refdir", default=str(REF_DIR))
    u.add_argument("--measure-noise", action="store_true", help="rerun with two other seeds and rewrite tolerances.json from the measured noise")
    u.add_argument("--keep", help="keep executed notebooks and figures in this folder")
    t = sub.add_parser("tolerances", help="rewrite noise files and tolerances.json from runs kept by update-references --measure-noise --keep DIR")
    t.add_argument("workdir")
    t.add_argument("--refdir", default=str(REF_DIR))
    c = sub.add_parser("compare", help="compare the figures in a folder with the references")
    c.add_argument("outdir")
    c.add_argument("--refdir", default=str(REF_DIR / CI_PRESET))
    args = p.parse_args(argv)
    if args.command == "update-references":
        update_references(args.notebooks, args.preset, args.refdir, args.measure_noise, keep=args.keep)
        return 0
    if args.command == "tolerances":
        tolerances_from_runs(args.workdir, refdir=args.refdir)
        return 0
    results = compare_dir(args.outdir, args.refdir)
    for r in results:
        print(r.line())
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
