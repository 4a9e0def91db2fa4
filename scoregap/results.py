"""Files of the experiment: atomic writes, sha256 sidecars, checkpoints and result archives."""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from .config import ExperimentConfig
from .models import PotentialMLP


class CorruptFileError(RuntimeError):
    """A file does not match the sha256 recorded next to it."""


def sha256(path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and os.replace (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path, text: str) -> None:
    """Atomic text write."""
    atomic_write_bytes(path, text.encode())


def write_json(path, obj) -> None:
    """Atomic, sorted, indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _sidecar(path) -> Path:
    return Path(str(path) + ".sha256")


def write_checked(path, data: bytes) -> None:
    """Atomic write plus a `<file>.sha256` sidecar."""
    atomic_write_bytes(path, data)
    atomic_write_text(_sidecar(path), f"{hashlib.sha256(data).hexdigest()}  {Path(path).name}\n")


def verify(path) -> None:
    """Raise CorruptFileError if `path` does not match its sha256 sidecar (or FileNotFoundError)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    side = _sidecar(path)
    if not side.is_file():
        raise CorruptFileError(f"{path} has no checksum file {side.name}; refusing to use it")
    expected = side.read_text().split()[0]
    actual = sha256(path)
    if actual != expected:
        raise CorruptFileError(f"{path} is corrupt: sha256 {actual[:12]}… differs from the recorded {expected[:12]}…")


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def save_checkpoint(path, model_state: dict, config: ExperimentConfig, summary: dict) -> None:
    """Final model file: plain state dict + config + training summary, loadable with weights_only=True."""
    obj = {"state_dict": {k: v.detach().cpu().clone() for k, v in model_state.items()},
           "config": config.to_dict(), "summary": summary}
    write_checked(path, _torch_bytes(obj))


def load_checkpoint(path, device="cpu"):
    """(model, config, summary) from a verified checkpoint."""
    verify(path)
    obj = torch.load(path, map_location=device, weights_only=True)
    cfg = ExperimentConfig.from_dict(obj["config"])
    model = PotentialMLP(width=cfg.width).to(device)
    model.load_state_dict(obj["state_dict"])
    return model.eval(), cfg, obj.get("summary", {})


def save_state(path, state: dict) -> None:
    """Resumable training state (weights, optimiser moments, RNG states, step), atomically with checksum."""
    write_checked(path, _torch_bytes(state))


def load_state(path, device="cpu") -> dict:
    """Load a verified training state."""
    verify(path)
    return torch.load(path, map_location=device, weights_only=True)


def save_npz(path, **arrays) -> None:
    """Atomic compressed .npz with checksum sidecar."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_checked(path, buf.getvalue())


def load_npz(path) -> dict:
    """Verified .npz as a dict of arrays."""
    verify(path)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
