"""Process memory allocator settings for the chunked CPU passes (glibc malloc).

Each chunk allocates its activations afresh (PyTorch's CPU allocator does not cache). Blocks above
glibc's mmap threshold (128 KiB, raised dynamically as blocks are freed) are mapped and unmapped on
every call, and every new page is faulted in and zeroed. Whether a process ends up in that mode
depends on its allocation history: measured on the 2-core machine, the same fast score pass ran at
0.33 M or 0.66 M evaluations/s in different processes. Fixing the thresholds keeps freed blocks on
the heap for reuse; every process then runs at the fast rate.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 << 20
"""Blocks below 64 MiB come from the heap (a 20 000 × 80 float32 activation is 6.4 MB)."""
TRIM_THRESHOLD = 512 << 20
"""Up to 512 MiB of freed heap stays mapped for reuse."""


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (mallopt) so freed tensor memory is reused; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
