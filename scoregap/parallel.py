"""Chunk-parallel work on the CPU cores: cache-sized row chunks handed out to Python threads.

PyTorch's intra-op threads split every small operation of a chunked pass and synchronise after each
one; on two cores that gains about 1.2×. Handing out whole *chunks* instead (each thread runs its
chunks with one intra-op thread; torch releases the GIL inside its kernels) keeps both cores busy.
Chunks go to whichever thread is free, so a core slowed by other work does not hold up the other,
and every chunk is evaluated exactly as a single thread would: results come back in chunk order and
do not depend on the number of workers.
"""
from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import torch

from .models import flush_denormals


def default_workers() -> int:
    """Workers for CPU work: torch's intra-op thread count (the CLI's --threads), at least 1."""
    return max(1, torch.get_num_threads())


def chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    """[0, n) as consecutive ranges of `chunk` rows (the last one shorter)."""
    if isinstance(chunk, bool) or int(chunk) != chunk or chunk < 1:
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    return [(i, min(i + int(chunk), n)) for i in range(0, max(n, 0), int(chunk))]


def _init_worker() -> None:
    torch.set_num_threads(1)


class RowPool:
    """Runs fn(lo, hi) over the row chunks of [0, n) on `workers` threads (one intra-op thread, flushed denormals each).

    With one worker it calls fn in the caller's thread, unchanged. Use as a context manager or close() it.
    """

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or int(workers) != workers or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = int(workers)
        self._ex = ThreadPoolExecutor(self.workers, initializer=_init_worker) if self.workers > 1 else None

    def map(self, fn: Callable[[int, int], object], n: int, chunk: int) -> list:
        """[fn(lo, hi) for (lo, hi) in chunks(n, chunk)], evaluated by the free workers, returned in chunk order."""
        parts = chunks(n, chunk)
        if self._ex is None or len(parts) == 1:
            return [fn(lo, hi) for lo, hi in parts]

        def run(lo: int, hi: int):
            with flush_denormals():
                return fn(lo, hi)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # else the caller's OpenMP team may spin on the cores the workers need
        try:
            futures = [self._ex.submit(run, lo, hi) for lo, hi in parts]
            return [f.result() for f in futures]
        finally:
            torch.set_num_threads(threads)

    def close(self) -> None:
        """Stop the worker threads."""
        if self._ex is not None:
            self._ex.shutdown(wait=True)
            self._ex = None

    def __enter__(self) -> "RowPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def row_pool(workers: int | None = None, device: torch.device | str = "cpu", pool: RowPool | None = None) -> Iterator[RowPool]:
    """`pool` if given (left open), else a RowPool of `workers` threads (default: default_workers()) on the CPU, a
    single-worker one elsewhere, closed at the end."""
    if pool is not None:
        yield pool
        return
    if torch.device(device).type != "cpu":
        workers = 1
    pool = RowPool(default_workers() if workers is None else workers)
    try:
        yield pool
    finally:
        pool.close()
