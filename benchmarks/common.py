"""What every contender shares: the repository's folders, device synchronisation, peak memory."""
from __future__ import annotations

import resource
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_SITE = ROOT / ".bench-site"  # pythae, installed apart from .venv by `make bench-env`


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory(device) -> dict:
    import torch

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def steady(epoch_times: list[float]) -> float:
    """Median epoch time after the first (which pays for allocation, compilation, caching)."""
    return statistics.median(epoch_times[1:] if len(epoch_times) > 1 else epoch_times)
