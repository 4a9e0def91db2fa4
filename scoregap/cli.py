"""Command line: `python -m scoregap {train,sample,truth,evaluate,residuals,bound,solver-study,thin,seed-table,training-curve,diagnose} …` — one unit of work per call."""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

import numpy as np
import torch

from . import datasets, evaluation, experiment, provenance, solver_study
from .config import PRESETS, W_R_VALUES, make, model_name, parse_overrides
from .models import load_published
from .results import CorruptFileError, load_checkpoint
from .samplers import NonFiniteError

PUBLISHED_W = tuple(str(w) for w in W_R_VALUES)


def _config(args, **fields):
    overrides = parse_overrides(args.set)
    clash = sorted(set(overrides) & set(fields))
    if clash:
        raise ValueError(f"set {', '.join(clash)} with its own option (--{clash[0].replace('_', '-')}), not with --set")
    return make(args.preset, **overrides, **fields)


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        return os.cpu_count() or 1


def _threads(text: str) -> int:
    """--threads: 0 (torch's default) up to the CPUs this process may use."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer (0: torch's default)") from None
    if not 0 <= n <= cpu_count():
        raise argparse.ArgumentTypeError(f"{n} is not between 0 (torch's default) and the {cpu_count()} CPUs available here")
    return n


def _count(minimum: int, meaning: str):
    """An integer option >= minimum."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer ({meaning})") from None
        if n < minimum:
            raise argparse.ArgumentTypeError(f"{n} is below {minimum} ({meaning})")
        return n
    return parse


def _weight(text: str) -> str:
    """--w-r: a finite number >= 0, kept as written for file names (float(w))."""
    try:
        w = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (FP-residual weights are numbers >= 0, e.g. 0.0 10.0)") from None
    if not (0.0 <= w < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: FP-residual weights are finite numbers >= 0")
    return text


def _writable_folder(path: Path) -> Path:
    """The folder a file will be written in, or its nearest existing parent (created later)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_outputs(outputs, inputs=(), option: str = "--out") -> None:
    """Before any work: no output is written twice, none is an input (or an input's checksum), every folder is writable."""
    seen = {}
    ins = set()
    for i in inputs:
        i = Path(i).resolve()
        ins |= {i, Path(str(i) + ".sha256")}
    for o in outputs:
        o = Path(o)
        r = o.resolve()
        if r in seen:
            raise ValueError(f"{option}: {o} would be written twice in one command (also as {seen[r]}); give one output per file")
        seen[r] = o
        if r in ins or Path(str(r) + ".sha256") in ins:
            raise ValueError(f"{option}: {o} is also an input of this command; write the result to another file")
        if o.is_dir():
            raise ValueError(f"{option}: {o} is a folder; give a file name")
        folder = _writable_folder(o)
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"{option}: cannot write in {folder}; choose a writable folder")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="size preset (paper: the paper's sizes; cpu: the shipped models; quick: CI)")
    p.add_argument("--set", nargs="*", metavar="FIELD=VALUE", default=[], help="override any configuration field, e.g. --set steps=2000 device=cuda")
    p.add_argument("--no-progress", action="store_true", help="switch off progress bars")
    _debug_threads(p)


def _debug_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_threads, default=0, help="CPU threads for torch (0: leave torch's default; at most the CPUs available)")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")


def cmd_train(args) -> int:
    ws = [float(w) for w in args.w_r]
    pairs = list(itertools.product(args.dataset, ws))
    configs = [_config(args, dataset=d, w_r=w) for d, w in pairs]
    if args.out:
        if len(configs) != 1:
            raise ValueError("--out names one checkpoint; use --out-dir for several models")
        outs = [Path(args.out)]
    else:
        outs = [Path(args.out_dir) / f"{c.name}.pt" for c in configs]
    from .training import snapshot_path, snapshot_steps

    steps = snapshot_steps(configs[0].steps, args.snapshots)
    check_outputs([f for o in outs for f in (o, o.with_suffix(".csv"), *(snapshot_path(o, k) for k in steps))],
                  option="--out" if args.out else "--out-dir")
    summaries = experiment.run_train(configs, outs, progress=not args.no_progress, snapshots=args.snapshots, fresh=args.fresh)
    for c, s, o in zip(configs, summaries, outs):
        print(f"{c.name}: {s['steps']} steps in {s['seconds']:.0f} s, final DSM {s['final_dsm']:.4g}, FP residual {s['final_fp_residual']:.4g} → {o}")
    return 0


def cmd_sample(args) -> int:
    jobs = []  # (model, dataset, w_r, label)
    if args.published:
        root = Path(args.published)
        for d in args.published_dataset:
            for w in args.published_w_r:
                f = evaluation.published_weights_file(root, d, w)
                jobs.append((load_published(f), d, float(w), {"model": "published"}, f))
    for ck in args.checkpoint or []:
        model, mcfg, _ = load_checkpoint(ck)
        jobs.append((model, mcfg.dataset, mcfg.w_r, {"model": str(ck)}, Path(ck)))
    if not jobs:
        raise ValueError("nothing to sample: give --checkpoint or --published")
    if args.out and (len(jobs) != 1 or len(args.method) != 1):
        raise ValueError("--out names one result; use --out-dir for several")
    work = [(job, method, _config(args, dataset=job[1], w_r=job[2]),
             Path(args.out) if args.out else Path(args.out_dir) / evaluation.sample_file_name(job[1], job[2], method))
            for job, method in itertools.product(jobs, args.method)]
    check_outputs([o for *_, o in work], [j[4] for j in jobs], option="--out" if args.out else "--out-dir")
    for (model, d, w, extra, src), method, cfg, out in work:
        info = experiment.run_sample(model, cfg, d, w, method, out, progress=not args.no_progress, extra=extra, inputs={"model": src})
        print(f"{model_name(d, w)} {method}: {info['n']} samples in {info['seconds']} s, {info['dropped']} outside the box → {out}")
    return 0


def cmd_truth(args) -> int:
    if args.out and len(args.dataset) != 1:
        raise ValueError("--out names one result file; use --out-dir for several data sets")
    work = [(d, _config(args, dataset=d), Path(args.out) if args.out else Path(args.out_dir) / evaluation.truth_file_name(d))
            for d in args.dataset]
    check_outputs([o for *_, o in work], option="--out" if args.out else "--out-dir")
    for d, cfg, out in work:
        info = experiment.run_truth(cfg, d, out)
        print(f"truth {d}: {info['n']} samples, {info['dropped']} outside the box → {out}")
    return 0


def refuse_nonfinite(rows: list[dict], columns, option: str) -> None:
    """No table row with NaN or inf in a result column is written (the error names the row and column)."""
    for r in rows:
        bad = [c for c in columns if c in r and not np.isfinite(float(r[c]))]
        if bad:
            who = model_name(r["dataset"], r["w_r"]) if "w_r" in r else r.get("dataset", "?")
            raise NonFiniteError(f"{who}: {', '.join(bad)} is not finite; nothing written to {option} (check that model's files)")


def check_evaluation_inputs(args, samples: Path, truth: Path) -> list[Path]:
    """Before any work: every sample and truth file was made with the settings of --preset/--set for its model, and the
    table (its record and comparison) may be written; returns the input files."""
    inputs = []
    for d in args.dataset:
        cfg = _config(args, dataset=d)
        f = truth / evaluation.truth_file_name(d)
        provenance.check_result_file(f, cfg, d, None, "truth")
        inputs.append(f)
        for w in [float(x) for x in args.w_r]:
            cfg = _config(args, dataset=d, w_r=w)
            for m in experiment.METHODS:
                f = samples / evaluation.sample_file_name(d, w, m)
                provenance.check_result_file(f, cfg, d, w, m)
                inputs.append(f)
            if args.checkpoint_dir:
                inputs.append(Path(args.checkpoint_dir) / f"{model_name(d, w)}.pt")
    out = Path(args.out)
    check_outputs([out, provenance.sidecar(out)] + ([out.with_suffix(evaluation.COMPARISON_SUFFIX)] if args.published else []), inputs)
    return inputs


def cmd_evaluate(args) -> int:
    from .parallel import default_workers

    import time

    if args.bootstrap < 0 or args.bootstrap == 1:
        raise ValueError(f"--bootstrap must be 0 (no intervals) or at least 2 replicates, got {args.bootstrap}")
    if args.bootstrap_seed < 0:
        raise ValueError(f"--bootstrap-seed must be a non-negative integer, got {args.bootstrap_seed}")
    t0 = time.perf_counter()
    samples, truth = Path(args.samples_dir), Path(args.truth_dir or args.samples_dir)
    inputs = check_evaluation_inputs(args, samples, truth)
    rows = []
    for d in args.dataset:
        for w in [float(x) for x in args.w_r]:
            ck = Path(args.checkpoint_dir) / f"{model_name(d, w)}.pt" if args.checkpoint_dir else None
            pub = load_published(evaluation.published_weights_file(args.published, d, w)) if args.published else None
            rows.append(evaluation.evaluate_row(d, w, samples / evaluation.sample_file_name(d, w, "ode"),
                                                samples / evaluation.sample_file_name(d, w, "sde"), truth / evaluation.truth_file_name(d),
                                                checkpoint=ck, model=pub, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                                                workers=default_workers()))
    if args.floor_repeats > 0:
        evaluation.add_floors(rows, repeats=args.floor_repeats)
    refuse_nonfinite(rows, evaluation.W2_COLUMNS + ("sliced_ode_truth", "sliced_sde_truth", "sliced_ode_sde"), "--out")
    evaluation.write_table(rows, Path(args.out))
    provenance.write_record(args.out, provenance.make_record(
        "evaluate", _config(args), {str(f): f for f in inputs if f.exists()}, datasets=list(args.dataset), w_r=[float(w) for w in args.w_r],
        bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed, floor_repeats=args.floor_repeats))
    print(f"{len(rows)} rows, bootstrap B = {args.bootstrap} (seed {args.bootstrap_seed}), {time.perf_counter() - t0:.0f} s → {args.out}")
    cmp = None
    if args.published:
        cmp = evaluation.compare_published(rows, Path(args.published), samples)
        experiment.write_json_atomic(Path(args.out).with_suffix(evaluation.COMPARISON_SUFFIX), cmp)
    print(evaluation.log_text(rows, cmp))
    return 0


def grid_checkpoints(folder) -> list[Path]:
    """The seed-0 checkpoints of the paper's grid in a folder (`<dataset>_w<w_R>.pt`, config.model_name): never a seed
    study's `_s<seed>.pt`, a training snapshot's `.step<k>.pt` or a saved state's `.state.pt`."""
    names = [Path(folder) / f"{model_name(d, w)}.pt" for d in datasets.PAPER_NAMES for w in W_R_VALUES]
    return [p for p in names if p.is_file()]


def cmd_residuals(args) -> int:
    _config(args)  # validates --preset/--set (residuals take their sizes from --n-x, --n-t)
    jobs = []
    checkpoints = grid_checkpoints(args.checkpoint_dir) if args.checkpoint_dir else []
    if args.checkpoint_dir and not checkpoints:
        raise ValueError(f"--checkpoint-dir {args.checkpoint_dir} holds none of the grid's checkpoints <dataset>_w<w_R>.pt "
                         f"(data sets {', '.join(datasets.PAPER_NAMES)}, w_R {', '.join(map(str, W_R_VALUES))})")
    for ck in checkpoints:
        model, mcfg, _ = load_checkpoint(ck)
        jobs.append(("ours", mcfg.dataset, mcfg.w_r, model))
    if args.published:
        for d in datasets.PAPER_NAMES:
            for w in PUBLISHED_W:
                jobs.append(("published", d, float(w), load_published(evaluation.published_weights_file(args.published, d, w))))
    if not jobs:
        raise ValueError("nothing to do: give --checkpoint-dir and/or --published")
    check_outputs([Path(args.out), provenance.sidecar(args.out)], checkpoints)
    rows = experiment.residual_rows(jobs, n_x=args.n_x, n_t=args.n_t)
    refuse_nonfinite(rows, ("total", "time_only", "centred", "score_form"), "--out")
    experiment.write_rows(rows, experiment.RESIDUAL_FIELDS, Path(args.out))
    inputs = {str(f): f for f in checkpoints}
    if args.published:
        inputs["published networks"] = "the authors' release (--published; not hashed)"
    provenance.write_record(args.out, provenance.make_record("residuals", _config(args), inputs, n_x=args.n_x, n_t=args.n_t))
    for r in rows:
        print(f"{r['source']:<10}{model_name(r['dataset'], r['w_r']):<16} total {r['total']:.4g}  time-only {r['time_only']:.4g} "
              f"({r['time_only'] / r['total']:.0%})  centred {r['centred']:.4g}  score-form {r['score_form']:.4g}")
    return 0


def cmd_bound(args) -> int:
    from . import gaussian

    _config(args)  # validates --preset/--set (the bound is exact: no sizes)
    check_outputs([Path(args.out), provenance.sidecar(args.out)])
    rows = []
    for s in gaussian.family():
        g, b = gaussian.gap(s), gaussian.coupling_bound(s)
        rows.append({"member": s.label, "gap_w2": g, "bound": b, "ratio": b / g if g > 0 else float("nan")})
        print(f"{s.label:<26} W2(ODE, SDE) {g:.5f}   bound {b:.5f}   bound/gap {rows[-1]['ratio']:.3g}")
    experiment.write_rows(rows, ("member", "gap_w2", "bound", "ratio"), Path(args.out))
    provenance.write_record(args.out, {"step": "bound", "config": None, "code": None, "inputs": {}})
    return 0


def cmd_solver_study(args) -> int:
    scores = (["exact"] if args.exact else []) + list(args.checkpoint or [])
    rows = solver_study.study(scores, args.dataset, args.n_samples, out=Path(args.out), floor_repeats=args.floor_repeats, seed=args.seed,
                              progress=not args.no_progress, steps=args.steps, heun_steps=args.heun_steps, paper_nfe=args.paper_nfe,
                              rtols=args.rtol)
    provenance.write_record(args.out, provenance.make_record(
        "solver_study", None, {str(f): Path(f) for f in args.checkpoint}, dataset=args.dataset, n_samples=args.n_samples,
        exact=args.exact, seed=args.seed, floor_repeats=args.floor_repeats, steps=args.steps, heun_steps=args.heun_steps,
        paper_nfe=args.paper_nfe, rtol=args.rtol))
    print(f"W2² ×10³ at n = {args.n_samples} (floor {1e3 * rows[0]['floor']:.3g} ± {1e3 * rows[0]['floor_std']:.2g}); "
          "ODE–SDE: each ODE against the finest SDE, each SDE against the reference ODE")
    for r in rows:
        setting = f"rtol {r['rtol']:.0e}" if r["solver"] == "dopri5" else f"{int(r['steps'])} steps ({r['schedule']})"
        print(f"{r['score']:<16}{r['solver']:<8}{setting:<22}nfe {int(r['nfe']):>5}  ODE–SDE {1e3 * r['ode_sde']:8.3g}  "
              f"truth {1e3 * r['truth']:8.3g}  dropped {int(r['dropped'])}")
    print(f"→ {args.out}")
    return 0


def cmd_thin(args) -> int:
    from . import seeds
    from .results import load_npz

    src, out = Path(args.source), Path(args.out)
    check_outputs([out], [src])
    _, _, info = experiment.read_result(src)
    d, w, method = info["dataset"], info.get("w_r"), info["method"]
    fields = {"dataset": d, **({"w_r": float(w)} if w is not None else {})}
    if provenance.read_record(src, load_npz(src)) is not None:
        provenance.check_result_file(src, _config(args, **fields, n_samples=int(info["n"])), d, w, method)
    new = seeds.thin_result(src, out, args.n, args.seed, config=_config(args, **fields, n_samples=args.n))
    print(f"{src.name}: {args.n} of {info['n']} samples (uniformly random subset), {new['dropped']} outside the box → {out}")
    return 0


def cmd_seed_table(args) -> int:
    from . import seeds
    from .parallel import default_workers

    if args.bootstrap < 0 or args.bootstrap == 1:
        raise ValueError(f"--bootstrap must be 0 (no intervals) or at least 2 replicates, got {args.bootstrap}")
    folder, ck_dir = Path(args.seed_dir), Path(args.checkpoint_dir)
    jobs, inputs = [], {}
    for d in args.dataset:
        truth = folder / "truth" / evaluation.truth_file_name(d)
        provenance.check_result_file(truth, _config(args, dataset=d), d, None, "truth")
        inputs[str(truth)] = truth
        for w in [float(x) for x in args.w_r]:
            cfg = _config(args, dataset=d, w_r=w)
            for s in args.seeds:
                ck = ck_dir / seeds.checkpoint_name(d, w, s)
                files = [folder / f"s{s}" / evaluation.sample_file_name(d, w, m) for m in experiment.METHODS]
                for f, m in zip(files, experiment.METHODS):
                    provenance.check_result_file(f, cfg, d, w, m)
                    seeds.check_model(f, ck)
                    inputs[str(f)] = f
                inputs[str(ck)] = ck
                jobs.append((d, w, s, *files, truth, ck))
    out, summ = Path(args.out), Path(args.summary)
    check_outputs([out, summ], list(inputs.values()))
    rows = [seeds.seed_row(d, w, s, ode, sde, truth, ck, bootstrap=args.bootstrap, bootstrap_seed=args.bootstrap_seed,
                           workers=default_workers()) for d, w, s, ode, sde, truth, ck in jobs]
    if args.floor_repeats > 0:
        evaluation.add_floors(rows, repeats=args.floor_repeats)
    refuse_nonfinite(rows, evaluation.W2_COLUMNS + ("fp_residual",), "--out")
    settings = {"seeds": [int(s) for s in args.seeds], "datasets": list(args.dataset), "w_r": [float(w) for w in args.w_r],
                "bootstrap": args.bootstrap, "bootstrap_seed": args.bootstrap_seed, "floor_repeats": args.floor_repeats}
    seeds.write_table(rows, seeds.SEED_FIELDS, out, provenance.make_record("seed_table", _config(args), inputs, **settings))
    # the summary of the table as written (its 6 significant digits), so a reader can check one against the other
    seeds.write_table(seeds.summary(seeds.read_rows(out)), seeds.SUMMARY_FIELDS, summ,
                      provenance.make_record("seed_table", _config(args), {str(out): out}, summary_of=str(out), **settings))
    for c in seeds.claims_by_seed(rows):
        print(f"seed {c['seed']:<5}{c['claim']} {c['dataset']:<10}{c['statement']}: {'holds' if c['holds'] else 'fails'}"
              + ("" if c["resolved"] is None else (", resolved" if c["resolved"] else ", intervals overlap")))
    print(f"{len(rows)} rows → {out}, {summ}")
    return 0


def cmd_training_curve(args) -> int:
    from . import seeds

    folder, jobs, inputs = Path(args.curve_dir), [], {}
    for ck in [Path(c) for c in args.checkpoint]:
        meta = seeds.snapshot_info(ck)
        d, w = meta["dataset"], meta["w_r"]
        truth = folder / "truth" / evaluation.truth_file_name(d)
        provenance.check_result_file(truth, _config(args, dataset=d), d, None, "truth")
        files = [folder / seeds.snapshot_sample_name(ck, m) for m in experiment.METHODS]
        for f, m in zip(files, experiment.METHODS):
            provenance.check_result_file(f, _config(args, dataset=d, w_r=w), d, w, m)
            seeds.check_model(f, ck)
        inputs.update({str(f): f for f in (ck, truth, *files)})
        jobs.append((ck, *files, truth))
    if not jobs:
        raise ValueError("nothing to evaluate: give --checkpoint with the snapshot files")
    check_outputs([Path(args.out)], list(inputs.values()))
    rows = [seeds.curve_row(ck, ode, sde, truth) for ck, ode, sde, truth in jobs]
    if args.floor_repeats > 0:
        evaluation.add_floors(rows, repeats=args.floor_repeats)
    refuse_nonfinite(rows, evaluation.W2_COLUMNS + ("fp_residual",), "--out")
    seeds.write_table(rows, seeds.CURVE_FIELDS, Path(args.out), provenance.make_record(
        "training_curve", _config(args), inputs, floor_repeats=args.floor_repeats))
    for r in rows:
        print(f"{model_name(r['dataset'], r['w_r'])} seed {r['seed']} step {r['step']:>6} ({r['samples_seen']:.3g} samples seen): "
              f"W2² ×10³ ODE–truth {1e3 * r['ode_truth']:.3g}, SDE–truth {1e3 * r['sde_truth']:.3g}, ODE–SDE {1e3 * r['ode_sde']:.3g}")
    print(f"→ {args.out}")
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def cmd_diagnose(args) -> int:
    from . import diagnosis
    from .results import write_json

    out, fig_path = Path(args.out) if args.out else None, Path(args.figure) if args.figure else None
    for p, flag, suffixes in ((out, "--out", (".json",)), (fig_path, "--figure", (".png", ".pdf", ".svg"))):
        if p is not None and p.suffix not in suffixes:
            raise ValueError(f"{flag} must end in {' or '.join(suffixes)}, got {p}")
        if p is not None and not p.parent.is_dir():
            raise ValueError(f"{flag}: folder {p.parent} does not exist")
    st = diagnosis.prepare(args.model, args.data, sde=args.sde, n=args.n, nfe=args.nfe, seed=args.seed, bootstrap=args.bootstrap,
                           floor_repeats=args.floor_repeats, kind=args.kind)
    report = diagnosis.run(st, progress=not args.no_progress, workers=max(1, torch.get_num_threads()))
    print(report)
    if out is not None:
        write_json(out, diagnosis.to_json(report))
        print(f"→ {out}")
    if fig_path is not None:
        from . import plots

        plots.set_style()
        fig = plots.diagnosis_report(report)
        fig.savefig(fig_path, dpi=100, metadata={"Software": None} if fig_path.suffix == ".png" else None)
        print(f"→ {fig_path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m scoregap", description="Reproduce Deveney et al. (arXiv:2311.15996): train, sample, evaluate.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train one model (or several together: every data set × w_R given)")
    _common(t)
    t.add_argument("--dataset", nargs="+", default=["checker"], choices=datasets.NAMES, help="data set(s)")
    t.add_argument("--w-r", nargs="+", type=_weight, default=["0.0"], help=f"FP-residual weight(s); the paper uses {W_R_VALUES}")
    g = t.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="checkpoint file for a single model (<dataset>_w<w_R>.pt)")
    g.add_argument("--out-dir", help="folder for the checkpoints <dataset>_w<w_R>.pt of several models")
    t.add_argument("--fresh", action="store_true",
                   help="discard a saved training state (<name>.state.pt) and start over; without it a state of other settings is refused")
    t.add_argument("--snapshots", type=_count(0, "0: none"), default=0,
                   help="also keep this many snapshots of the weights, evenly spaced along training (<name>.step<k>.pt)")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="sample models with the ODE and/or SDE sampler; write histograms",
                       description="Sample models with the ODE and/or SDE sampler and write histograms. A model's rows are split over "
                                   "--threads CPU threads (the samples do not depend on the count). Every 200 000 samples the finished "
                                   "ones go to <out>.partial: an interrupted run, rerun with the same settings, resumes there.")
    _common(s)
    s.add_argument("--checkpoint", nargs="*", help="checkpoint file(s) written by `train`")
    s.add_argument("--published", help="folder laid out like the authors' release (weights/<dataset>_w<w_R>.npz): sample its networks (all 12 unless filtered below)")
    s.add_argument("--published-dataset", nargs="+", default=list(datasets.PAPER_NAMES), choices=datasets.PAPER_NAMES,
                   help="with --published: only these data sets' four networks (default: all three)")
    s.add_argument("--published-w-r", nargs="+", default=list(PUBLISHED_W), choices=PUBLISHED_W,
                   help="with --published: only the networks of these w_R (default: all four)")
    s.add_argument("--method", nargs="+", default=["ode", "sde"], choices=experiment.METHODS, help="sampler(s)")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="result file for one model and one sampler")
    g.add_argument("--out-dir", help="folder for results <dataset>_w<w_R>_<method>.npz")
    s.set_defaults(func=cmd_sample)

    r = sub.add_parser("truth", help="histogram of exact data samples (the reference of every W2²)")
    _common(r)
    r.add_argument("--dataset", nargs="+", default=list(datasets.PAPER_NAMES), choices=datasets.NAMES)
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="result file for one data set")
    g.add_argument("--out-dir", help="folder for truth_<dataset>.npz")
    r.set_defaults(func=cmd_truth)

    e = sub.add_parser("evaluate", help="W2² tables (ODE–truth, SDE–truth, ODE–SDE) from sample and truth files")
    _common(e)
    e.add_argument("--samples-dir", required=True, help="folder of <dataset>_w<w_R>_<method>.npz")
    e.add_argument("--truth-dir", help="folder of truth_<dataset>.npz (default: --samples-dir)")
    e.add_argument("--checkpoint-dir", help="folder of the checkpoints (adds the FP residual and final DSM loss)")
    e.add_argument("--published", help="authors' release folder: evaluate their networks and compare with their published histograms")
    e.add_argument("--dataset", nargs="+", default=list(datasets.PAPER_NAMES), choices=datasets.NAMES)
    e.add_argument("--w-r", nargs="+", type=_weight, default=[str(w) for w in W_R_VALUES])
    e.add_argument("--out", required=True, help="CSV file of the long-form table")
    e.add_argument("--floor-repeats", type=_count(0, "0 skips the floor"), default=4, help="pairs of exact samples used to measure the Monte Carlo floor per data set (0: skip)")
    e.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap replicates per W2² entry (multinomial resampling of each histogram's counts; adds the columns "
                        "<col>_ci_low, <col>_ci_high (95 %% interval), <col>_se and <col>_debiased); 0: no intervals (default). "
                        "Cost: B + 1 exact OT solves per entry, ~1 s each at 20 000 samples and ~2 s at 10⁶ on one core; they run "
                        "on --threads threads (torch's default when 0), with the same numbers for any count")
    e.add_argument("--bootstrap-seed", type=int, default=0, metavar="SEED",
                   help="seed of the bootstrap (each entry derives its own stream from it, the data set, w_R and the column)")
    e.set_defaults(func=cmd_evaluate)
    q = sub.add_parser("residuals", help="FP residual split into its time-only (gauge) part and the rest, and the score-form residual")
    _common(q)
    q.add_argument("--checkpoint-dir", help="folder of checkpoints <dataset>_w<w_R>.pt")
    q.add_argument("--published", help="authors' release folder (weights/…)")
    q.add_argument("--n-x", type=int, default=2_000, help="uniform points per time slab")
    q.add_argument("--n-t", type=int, default=10, help="time slabs in [eps, T]")
    q.add_argument("--out", required=True, help="CSV file")
    q.set_defaults(func=cmd_residuals)
    b = sub.add_parser("bound", help="the coupling bound vs the exact ODE–SDE gap for affine scores on Gaussian data (exact, no sampling)")
    _common(b)
    b.add_argument("--out", required=True, help="CSV file")
    b.set_defaults(func=cmd_bound)
    v = sub.add_parser("solver-study", help="is the ODE–SDE gap a discretisation artefact? W2² ODE–SDE and to the truth against "
                                            "steps for Euler, Heun, dopri5 (ODE) and Euler–Maruyama (SDE)")
    v.add_argument("--dataset", default="checker", choices=datasets.NAMES, help="data set (of the exact score and of the checkpoints)")
    v.add_argument("--exact", action=argparse.BooleanOptionalAction, default=True,
                   help="include the data set's exact score (--no-exact: only the checkpoints)")
    v.add_argument("--checkpoint", nargs="*", default=[], help="checkpoint file(s) written by `train` (models of --dataset)")
    v.add_argument("--n-samples", type=int, default=20_000, help="samples per solver run (and per exact sample of the truth and floor)")
    v.add_argument("--steps", nargs="+", type=int, default=list(solver_study.STEPS),
                   help="numbers of uniform steps of size T/steps for Euler (ODE) and Euler–Maruyama (SDE)")
    v.add_argument("--heun-steps", nargs="*", type=int, default=list(solver_study.HEUN_STEPS),
                   help="numbers of uniform Heun steps (2 score evaluations per step; none: skip Heun)")
    v.add_argument("--paper-nfe", type=int, default=solver_study.PAPER_NFE,
                   help="also run Euler and Euler–Maruyama on the paper's grid with this nfe (800: 890 steps); 0 skips it")
    v.add_argument("--rtol", nargs="+", type=float, default=list(solver_study.RTOLS),
                   help="dopri5 relative tolerances (atol = rtol); the smallest is the reference ODE solution")
    v.add_argument("--seed", type=int, default=0, help="seed of x_T, the SDE noise, the truth sample and the floor")
    v.add_argument("--floor-repeats", type=_count(1, "at least one pair"), default=16, help="pairs of exact samples measuring the Monte Carlo floor")
    v.add_argument("--out", required=True, help="CSV file (written atomically)")
    v.add_argument("--no-progress", action="store_true", help="switch off progress bars")
    _debug_threads(v)
    v.set_defaults(func=cmd_solver_study)
    h = sub.add_parser("thin", help="the sample or truth file of a uniformly random subset of a file's samples (exact, from its counts)")
    _common(h)
    h.add_argument("--source", required=True, help="sample or truth file written by `sample`/`truth`")
    h.add_argument("--n", type=_count(1, "samples to keep"), required=True, help="samples to keep (at most the source's)")
    h.add_argument("--seed", type=_count(0, "a non-negative integer"), default=0, help="seed of the subset (each file derives its own)")
    h.add_argument("--out", required=True, help="result file (written atomically, with its checksum)")
    h.set_defaults(func=cmd_thin)
    st = sub.add_parser("seed-table", help="W2² of every training seed's models at one sample size, and its summary over seeds")
    _common(st)
    st.add_argument("--seed-dir", required=True, help="folder with s<seed>/<dataset>_w<w_R>_<method>.npz and truth/truth_<dataset>.npz")
    st.add_argument("--checkpoint-dir", required=True, help="folder of the checkpoints <dataset>_w<w_R>[_s<seed>].pt")
    st.add_argument("--seeds", nargs="+", type=_count(0, "training seeds"), default=[0, 1, 2], help="training seeds (0: the shipped models)")
    st.add_argument("--dataset", nargs="+", default=list(datasets.PAPER_NAMES), choices=datasets.NAMES)
    st.add_argument("--w-r", nargs="+", type=_weight, default=["0.0", "10.0"])
    st.add_argument("--bootstrap", type=int, default=0, metavar="B", help="bootstrap replicates per W2² entry (0: none)")
    st.add_argument("--bootstrap-seed", type=_count(0, "a non-negative integer"), default=0, metavar="SEED")
    st.add_argument("--floor-repeats", type=_count(0, "0 skips the floor"), default=evaluation.FLOOR_REPEATS)
    st.add_argument("--out", required=True, help="CSV: one row per data set, w_R and seed")
    st.add_argument("--summary", required=True, help="CSV: mean, sd, min, max over seeds per data set and w_R")
    st.set_defaults(func=cmd_seed_table)
    tc = sub.add_parser("training-curve", help="W2² and FP residual of snapshots along training (train --snapshots)")
    _common(tc)
    tc.add_argument("--checkpoint", nargs="+", required=True, help="snapshot files <model>.step<k>.pt")
    tc.add_argument("--curve-dir", required=True, help="folder with <model>.step<k>_<method>.npz and truth/truth_<dataset>.npz")
    tc.add_argument("--floor-repeats", type=_count(0, "0 skips the floor"), default=evaluation.FLOOR_REPEATS)
    tc.add_argument("--out", required=True, help="CSV: one row per snapshot")
    tc.set_defaults(func=cmd_training_curve)
    dg = sub.add_parser("diagnose", help="the ODE–SDE gap and FP residual of any 2-D score model on any 2-D data, under OU, VP or VE",
                        description="Sample a model's probability-flow ODE and reverse SDE, measure W2² ODE–SDE, ODE–data and SDE–data "
                                    "with bootstrap intervals and the Monte Carlo floor, and its Fokker–Planck residual.")
    dg.add_argument("--model", required=True, help="a checkpoint or TorchScript module (.pt) or an authors'-release network (.npz)")
    dg.add_argument("--data", required=True, help=f"a data-set name ({', '.join(datasets.ALL_NAMES)}) or a .npy/.csv file of samples (n, 2)")
    dg.add_argument("--sde", default="ou", choices=("ou", "vp", "ve"), help="forward SDE the model was trained under (ve: σ_max from the data)")
    dg.add_argument("--kind", choices=("potential", "score"), help="what the model returns (default: from its output shape)")
    dg.add_argument("--n", type=int, default=20_000, help="samples per sampler (and of the data)")
    dg.add_argument("--nfe", type=int, default=800, help="sampler steps (OU: the paper's grid, 890 steps at 800; VP, VE: uniform)")
    dg.add_argument("--seed", type=int, default=0, help="seed of the samplers, the data sample, the floor and the bootstrap")
    dg.add_argument("--bootstrap", type=int, default=8, metavar="B", help="bootstrap replicates per W2² interval (0: none)")
    dg.add_argument("--floor-repeats", type=int, default=2, help="pairs of data samples measuring the Monte Carlo floor")
    dg.add_argument("--out", help="JSON report (written atomically)")
    dg.add_argument("--figure", help="figure file (.png, .pdf or .svg)")
    dg.add_argument("--no-progress", action="store_true", help="switch off progress bars")
    dg.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: leave torch's default)")
    dg.set_defaults(func=cmd_diagnose)
    return p


USAGE_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError)
"""Errors of what the user asked for (exit status 2); every other error is a failure of the work (exit status 1)."""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, MemoryError):
        return f"out of memory ({text}); lower n_samples or the batch sizes with --set"
    if isinstance(err, PermissionError) and err.filename:
        return f"permission denied: {err.filename}; choose a file or folder you may write"
    if isinstance(err, OSError) and err.filename and err.strerror:
        return f"{err.filename}: {err.strerror}"
    if not isinstance(err, (*USAGE_ERRORS, CorruptFileError, NonFiniteError, OSError)):
        return f"{type(err).__name__}: {text}"
    return text


def main(argv=None) -> int:
    """Run one command; errors are one line on stderr (exit 2: usage, 1: failure), tracebacks only with --debug."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", 0):
        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        raise
    except Exception as err:
        if getattr(args, "debug", False):
            raise
        usage = isinstance(err, USAGE_ERRORS) and not isinstance(err, (CorruptFileError, NonFiniteError))
        print(f"error: {_one_line(err)}" + ("" if usage else " (--debug shows the traceback)"), file=sys.stderr)
        return 2 if usage else 1
