"""Files of the experiment: atomic writes, sha256 sidecars, checkpoints and result archives."""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import pickle
import tempfile
import zipfile
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


def _umask() -> int:
    """The process's umask (read without changing it where /proc allows)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_temp(path: Path, data: bytes) -> str:
    """`data` in a temporary file next to `path`, flushed, with the permissions a plain open() would give (0666 & ~umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return tmp


@contextlib.contextmanager
def _folder_lock(folder: Path, exclusive: bool):
    """flock on a folder: writers publish a file and its sidecar under the exclusive lock, readers read both under the shared one."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:  # a file system without flock: the renames stay atomic one by one
            pass
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _publish(pairs: list[tuple[Path, bytes]]) -> None:
    """Write every (path, data) to a temporary file, then rename them all under the folder's lock (one folder)."""
    tmps = []
    try:
        for path, data in pairs:
            tmps.append((_write_temp(path, data), path))
        with _folder_lock(pairs[0][0].parent, exclusive=True):
            for tmp, path in tmps:
                os.replace(tmp, path)
    except BaseException:
        for tmp, _ in tmps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file in the same folder and os.replace (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _publish([(path, data)])


def atomic_write_text(path, text: str) -> None:
    """Atomic text write."""
    atomic_write_bytes(path, text.encode())


def write_json(path, obj) -> None:
    """Atomic, sorted, indented JSON."""
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def _sidecar(path) -> Path:
    return Path(str(path) + ".sha256")


def write_checked(path, data: bytes) -> None:
    """Atomic write plus a `<file>.sha256` sidecar, published together: a reader (read_checked) never sees a mismatched pair."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _publish([(path, data), (_sidecar(path), f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode())])


def read_checked(path) -> bytes:
    """The bytes of `path` after checking them against its sha256 sidecar (both read under the folder's shared lock)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"missing file: {path}")
    side = _sidecar(path)
    with _folder_lock(path.parent, exclusive=False):
        if not side.is_file():
            raise CorruptFileError(f"{path} has no checksum file {side.name}; refusing to use it")
        fields = side.read_text().split()
        data = path.read_bytes()
    if not fields:
        raise CorruptFileError(f"{side} is empty; recreate {path.name} (its checksum is unknown)")
    actual = hashlib.sha256(data).hexdigest()
    if actual != fields[0]:
        raise CorruptFileError(f"{path} is corrupt: sha256 {actual[:12]}… differs from the recorded {fields[0][:12]}…")
    return data


def verify(path) -> None:
    """Raise CorruptFileError if `path` does not match its sha256 sidecar (or FileNotFoundError)."""
    read_checked(path)


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _torch_load(path, device):
    """A verified torch file, loaded from the checked bytes with weights_only=True."""
    data = read_checked(path)
    try:
        return torch.load(io.BytesIO(data), map_location=device, weights_only=True)
    except (RuntimeError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise CorruptFileError(f"{path} is not a readable torch file ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None


def save_checkpoint(path, model_state: dict, config: ExperimentConfig, summary: dict, record: dict | None = None) -> None:
    """Final model file: plain state dict + config + training summary (+ its provenance record), loadable with weights_only=True."""
    obj = {"state_dict": {k: v.detach().cpu().clone() for k, v in model_state.items()},
           "config": config.to_dict(), "summary": summary}
    if record is not None:
        obj["record"] = record
    write_checked(path, _torch_bytes(obj))


def load_checkpoint(path, device="cpu"):
    """(model, config, summary) from a verified checkpoint."""
    obj = _torch_load(path, device)
    cfg = ExperimentConfig.from_dict(obj["config"])
    model = PotentialMLP(width=cfg.width).to(device)
    model.load_state_dict(obj["state_dict"])
    return model.eval(), cfg, obj.get("summary", {})


def save_state(path, state: dict) -> None:
    """Resumable training state (weights, optimiser moments, RNG states, step), atomically with checksum."""
    write_checked(path, _torch_bytes(state))


def load_state(path, device="cpu") -> dict:
    """Load a verified training state."""
    return _torch_load(path, device)


def save_npz(path, **arrays) -> None:
    """Atomic compressed .npz with checksum sidecar."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_checked(path, buf.getvalue())


def load_npz(path) -> dict:
    """Verified .npz as a dict of arrays."""
    data = read_checked(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise CorruptFileError(f"{path} is not a readable .npz archive ({err})") from None
