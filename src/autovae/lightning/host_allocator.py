"""Host memory for CPU tensors: keep freed memory in the process instead of giving it back.

glibc's malloc serves a block above its mmap threshold (128 KiB at start, raised adaptively) with
fresh pages from the kernel and returns freed heap tops beyond its trim threshold. A CPU training
step or a pass of the importance-sampled bounds allocates and frees tensors of one to a few MiB
(1,000 decoder rows x 784 pixels x 4 bytes = 3 MiB) hundreds of times a second, so the process keeps
page-faulting memory it has just freed, and how often depends on the order of earlier frees: the same
K=5000 NLL ran about three times slower or not depending on that alone (docs/performance.md). Fixing the mmap threshold at 32 MiB (glibc's maximum) and the trim threshold at 1 GiB keeps
the blocks in the heap for reuse; peak memory is unchanged, the process just does not shrink.

This is what PyTorch's CPU performance guide gets from preloading jemalloc or tcmalloc, done here
with glibc's own ``mallopt`` so that nothing needs to be installed. Elsewhere (macOS, musl) it is a
no-op, and ``host_allocator=system`` turns it off.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 * 2 ** 20  # glibc's largest on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 2 ** 30
CHOICES = ("keep_freed", "system")


@functools.lru_cache(maxsize=None)
def _glibc():
    """glibc's C library, or None where the C library is another (macOS, musl) or cannot be loaded."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version.restype = ctypes.c_char_p
        libc.gnu_get_libc_version()
        return libc
    except (OSError, AttributeError):
        return None


@functools.lru_cache(maxsize=None)
def configure(choice: str = "keep_freed") -> str:
    """Applies ``choice`` to this process once; returns what the run records as its host allocator."""
    if choice not in CHOICES:
        from autovae.errors import UnknownOptionError

        raise UnknownOptionError(f"unknown host_allocator={choice!r}; valid: {', '.join(CHOICES)}")
    if choice == "system":
        return "system"
    libc = _glibc()
    if libc is None:
        return "system (not glibc)"
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not ok:
        log.warning("glibc refused the allocator settings; freed memory goes back to the kernel as usual")
        return "system (mallopt refused)"
    return f"glibc keep_freed (mmap threshold {MMAP_THRESHOLD >> 20} MiB, trim threshold {TRIM_THRESHOLD >> 20} MiB)"
