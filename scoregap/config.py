"""One experiment configuration (a frozen dataclass) and its presets; presets differ only in sizes."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from . import datasets, metrics, samplers, sde

W_R_VALUES = (0.0, 0.1, 1.0, 10.0)
"""The paper's regularisation weights."""
DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class ExperimentConfig:
    """Every hyperparameter of one model and its evaluation (the paper's training, sampling and evaluation settings)."""

    preset: str = "paper"
    dataset: str = "checker"
    w_r: float = 0.0
    steps: int = 100_000
    lrs: tuple = (1e-3, 1e-4, 1e-5)
    lr_fractions: tuple = (0.25, 0.65, 0.10)
    dsm_batch: int = 200_000
    fp_batch: int = 50_000
    box: float = metrics.BOX
    eps: float = sde.EPS
    T: float = sde.T
    width: int = 80
    nfe: int = samplers.NFE
    schedule: str = "paper"
    n_samples: int = 3_000_000
    grid_n: int = metrics.GRID_N
    seed: int = 0
    sample_seed: int = 1
    truth_seed: int = 2
    device: str = "cpu"
    checkpoint_every: int = 1_000
    log_every: int = 500
    models_from: str = ""

    def __post_init__(self):
        _validate(self)

    @property
    def name(self) -> str:
        """Model name used in file names: <dataset>_w<w_R>."""
        return model_name(self.dataset, self.w_r)

    def lr_at(self, step: int) -> float:
        """Learning rate of the piecewise-constant schedule at 0-based `step`."""
        edge = 0.0
        for lr, frac in zip(self.lrs, self.lr_fractions):
            edge += frac * self.steps
            if step < round(edge):
                return lr
        return self.lrs[-1]

    def to_dict(self) -> dict:
        """Plain dict (tuples as lists) for JSON and checkpoints."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "ExperimentConfig":
        """Inverse of to_dict; unknown keys are an error."""
        return make(**{**d, "preset": d.get("preset", "paper")}, _base=None)


def model_name(dataset: str, w_r: float) -> str:
    """<dataset>_w<w_R> with w_R written as a float (checker_w0.0, blob_w10.0)."""
    return f"{dataset}_w{float(w_r)}"


BYTES_PER_SAMPLE = 64
"""Memory per sample of a sampling or truth run, with room to spare: the output (8 bytes), its histogram pass (float64
copies and bin indices) and the raw subsample."""
BYTES_PER_TRAINING_POINT = 2_048
"""Memory per DSM or collocation point of one training step (inputs, targets and a chunk's share of the graph)."""


def memory_bytes() -> int:
    """Physical memory of this machine (0 when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 0


def _fail(field_name: str, value, allowed: str):
    raise ValueError(f"invalid {field_name}={value!r}: {allowed}")


def _validate(c: ExperimentConfig) -> None:
    if c.preset not in PRESETS and c.preset != "custom":
        _fail("preset", c.preset, f"allowed presets are {', '.join(PRESETS)}")
    if c.dataset not in datasets.NAMES:
        _fail("dataset", c.dataset, f"allowed data sets are {', '.join(datasets.NAMES)}")
    if not (c.w_r >= 0.0) or c.w_r != c.w_r or c.w_r == float("inf"):
        _fail("w_r", c.w_r, "the FP weight must be a finite number >= 0")
    for f in ("steps", "dsm_batch", "fp_batch", "width", "nfe", "n_samples", "grid_n", "checkpoint_every", "log_every"):
        v = getattr(c, f)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            _fail(f, v, "must be a positive integer")
    for f in ("seed", "sample_seed", "truth_seed"):
        v = getattr(c, f)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _fail(f, v, "must be a non-negative integer")
    if len(c.lrs) != len(c.lr_fractions) or not c.lrs or any(lr <= 0 for lr in c.lrs):
        _fail("lrs", c.lrs, "positive learning rates, one per entry of lr_fractions")
    if abs(sum(c.lr_fractions) - 1) > 1e-9 or any(f <= 0 for f in c.lr_fractions):
        _fail("lr_fractions", c.lr_fractions, "positive fractions summing to 1")
    if c.schedule not in samplers.SCHEDULES:
        _fail("schedule", c.schedule, f"allowed schedules are {', '.join(samplers.SCHEDULES)}")
    if c.schedule == "paper" and c.nfe < 11:
        _fail("nfe", c.nfe, "the paper schedule needs nfe >= 11")
    if c.device not in DEVICES and not c.device.startswith("cuda:"):
        _fail("device", c.device, f"allowed devices are {', '.join(DEVICES)} or cuda:<index>")
    if not c.box > 0 or not (0 < c.eps < c.T):
        _fail("box/eps/T", (c.box, c.eps, c.T), "need box > 0 and 0 < eps < T")
    mem = memory_bytes()
    if mem:
        for f, per in (("n_samples", BYTES_PER_SAMPLE), ("dsm_batch", BYTES_PER_TRAINING_POINT), ("fp_batch", BYTES_PER_TRAINING_POINT)):
            if getattr(c, f) * per > mem:
                _fail(f, getattr(c, f), f"needs about {getattr(c, f) * per / 2**30:.3g} GiB of memory, more than the "
                                        f"{mem / 2**30:.3g} GiB of this machine; at most {mem // per:,}")
    if c.models_from and c.models_from not in PRESETS:
        _fail("models_from", c.models_from, f"empty, or a preset whose checkpoints to reuse: {', '.join(PRESETS)}")


PRESETS: dict[str, dict] = {
    # Exactly the paper's sizes (a GPU job).
    "paper": {},
    # The shipped models: the paper's schedule shape at the authors' CPU batch sizes (paper / 10).
    # 28 000 steps: 7 500 at 1e-3, 19 500 at 1e-4, 1 000 at 1e-5 (the last phase is shorter than the paper's
    # 10 %: the shipped run was planned for 30 000 steps and stopped at 28 000 when its GPU time ran out).
    # 10^6 samples per sampler (the paper uses 3 M): sampled on 2 CPU cores, resumably, one model-sampler per core,
    # about 27 min per file (tools/cpu_sample_1m.sh); the Monte Carlo floor at 10^6 is stated next to every table.
    "cpu": {"steps": 28_000, "lr_fractions": (15 / 56, 39 / 56, 1 / 28), "dsm_batch": 20_000, "fp_batch": 5_000,
            "n_samples": 1_000_000, "checkpoint_every": 1_000, "log_every": 250},
    # CI: minutes; no training, it reuses the shipped cpu checkpoints and samples few points.
    "quick": {"steps": 28_000, "lr_fractions": (15 / 56, 39 / 56, 1 / 28), "dsm_batch": 20_000, "fp_batch": 5_000, "n_samples": 4_000,
              "models_from": "cpu", "log_every": 250},
}
"""Preset name → overrides of the paper defaults."""

_FIELDS = {f.name: f for f in dataclasses.fields(ExperimentConfig)}


def _coerce(name: str, value):
    """Convert a string override (CLI, Snakemake config) to the field's type."""
    if name not in _FIELDS:
        raise ValueError(f"unknown configuration field {name!r}; valid fields are {', '.join(_FIELDS)}")
    default = _FIELDS[name].default
    if isinstance(value, str) and not isinstance(default, str):
        try:
            if isinstance(default, tuple):
                return tuple(float(v) for v in value.strip("()[]").split(",") if v.strip())
            if isinstance(default, bool):
                return value.lower() in ("1", "true", "yes")
            if isinstance(default, int):
                return int(float(value)) if float(value).is_integer() else _fail(name, value, "must be an integer")
            if isinstance(default, float):
                return float(value)
        except ValueError as err:
            if "invalid" in str(err):
                raise
            raise ValueError(f"invalid {name}={value!r}: expected a {type(default).__name__}") from None
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    return value


def make(preset: str = "paper", _base: str | None = "preset", **overrides) -> ExperimentConfig:
    """Build a validated config: the preset's sizes, then `overrides` (strings are parsed by field type)."""
    if preset not in PRESETS:
        raise ValueError(f"invalid preset={preset!r}: allowed presets are {', '.join(PRESETS)}")
    values = dict(PRESETS[preset]) if _base else {}
    values.update({k: _coerce(k, v) for k, v in overrides.items()})
    values["preset"] = preset
    return ExperimentConfig(**values)


def parse_overrides(items: list[str] | None) -> dict:
    """['steps=100', 'w_r=1'] → {'steps': '100', 'w_r': '1'} (values are coerced by `make`)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"override {item!r} must look like field=value")
        k, v = item.split("=", 1)
        out[k.strip().replace("-", "_")] = v.strip()
    return out
