"""The default training precision: bf16-mixed where the hardware computes bf16 fast, fp32 elsewhere.

On this project's AMD EPYC (avx512_bf16) bf16 matrix products run about twice as fast as fp32, and
bf16 GPUs (Ampere and newer) gain more. Only the networks run in bf16: the models compute every
density, KL and bound in float32 (``VAE.densities_in_fp32``). ``trainer.precision=32-true`` stays one
override away for exact work.
"""
from __future__ import annotations

import functools
from pathlib import Path

BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=None)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's fast-bf16 instruction sets, from /proc/cpuinfo (empty where it cannot be read)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return ()
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


def choose(accelerator: str = "auto") -> tuple[str, str]:
    """(Lightning precision, why) for the accelerator the trainer will use."""
    import torch

    accelerator = str(accelerator or "auto").lower()
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return "bf16-mixed", f"GPU {torch.cuda.get_device_name()} supports bf16"
        if accelerator != "auto":
            return "32-true", f"GPU {torch.cuda.get_device_name()} has no fast bf16"
    if accelerator in ("cpu", "auto"):
        flags = cpu_bf16_flags()
        if flags:
            return "bf16-mixed", f"CPU has {'/'.join(flags)}"
        return "32-true", "CPU has neither avx512_bf16 nor AMX"
    return "32-true", f"accelerator {accelerator}: fp32 by default"


def fast_precision(accelerator: str = "auto") -> str:
    return choose(accelerator)[0]
