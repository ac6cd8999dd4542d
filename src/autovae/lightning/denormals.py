"""Subnormal floats on the CPU: flush them to zero (the default) or keep IEEE gradual underflow.

Late in training, Adam's second moments of parameters whose gradients have become tiny (the decoder's
biases for MNIST's always-black border pixels, driven ever more negative) fall below float32's smallest
normal number, 1.2e-38, and x86 CPUs compute with such subnormal numbers through a slow microcode path.
On the HEBAE paper's setup (MLP 784-800-800, batch 128, bf16) a run's fused Adam step went from 3.4 to
19.4 ms by epoch 40 of 100 and the whole step from 14 to 33 ms (docs/performance.md), while a short
benchmark, which never reaches such values, saw nothing. Flushing subnormals to zero (the x86 FTZ
and DAZ modes, through ``torch.set_flush_denormal``) changes no update: Adam divides by sqrt(v) + eps
with eps = 1e-8, and a second moment below 1e-38 adds less than 1e-19 to that sum. GPUs are unaffected.
"""
from __future__ import annotations

import torch

CHOICES = ("flush", "keep")


def configure(choice: str = "flush") -> str:
    """Applies ``choice`` to this process's CPU arithmetic; returns what the run records."""
    if choice not in CHOICES:
        from autovae.errors import UnknownOptionError

        raise UnknownOptionError(f"unknown denormals={choice!r}; valid: {', '.join(CHOICES)}")
    supported = torch.set_flush_denormal(choice == "flush")
    if choice == "flush" and not supported:
        return "keep (this CPU cannot flush subnormals)"
    return choice
