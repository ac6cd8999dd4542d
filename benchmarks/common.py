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


def machine() -> str:
    """The processor, cores and torch build the figures were measured on (they differ between
    machines of one kind: the softplus form autovae takes depends on the CPU vendor)."""
    import os
    import platform

    import torch

    from autovae.distributions.fast_softplus import softplus_form

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (f"Machine: {model}, {os.cpu_count()} cores{gpu}; torch {torch.__version__}; "
            f"softplus on the CPU: {softplus_form('cpu')} form")
