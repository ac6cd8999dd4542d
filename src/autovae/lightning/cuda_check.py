"""``torch.cuda.is_available()`` without a failed library load on every call, where NVML is absent.

Importing Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1``, so that asking whether CUDA is there
never initialises it (a forked worker could not use CUDA afterwards). torch then answers by loading
NVML's library; where that library cannot be loaded (a machine without NVIDIA's driver) it falls back
to the CUDA runtime's own device count, which is the answer it gives without the variable, after a
dlopen that searches the library path and fails. torch's Adam asks before every step, so on a CPU
every training step paid that search. Where NVML's library cannot be loaded the variable protects
nothing, and it is turned off; where it loads (a GPU machine) it is left as Lightning set it.
"""
from __future__ import annotations

import ctypes
import functools
import os

VARIABLE = "PYTORCH_NVML_BASED_CUDA_CHECK"
NVML = "libnvidia-ml.so.1"  # the name torch.cuda loads


@functools.lru_cache(maxsize=None)
def nvml_loads() -> bool:
    try:
        ctypes.CDLL(NVML)
    except OSError:
        return False
    return True


def skip_nvml_check_without_nvml() -> bool:
    """Turns the NVML-based CUDA check off where NVML's library cannot be loaded; True if it did."""
    if os.environ.get(VARIABLE) != "1" or nvml_loads():
        return False
    os.environ[VARIABLE] = "0"
    return True
