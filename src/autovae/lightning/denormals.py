"""Subnormal floats on the CPU: flush them to zero (the default) or keep IEEE gradual underflow.

Late in training, Adam's second moments of parameters whose gradients vanish (the decoder's biases for
MNIST's always-black border pixels, driven ever more negative) fall below float32's smallest normal
number, 1.2e-38, and x86 CPUs compute with such subnormal numbers through a slow microcode path that
can make the optimizer step several times slower than the rest of the step (docs/performance.md).
Flushing them to zero (x86's FTZ and DAZ modes, through ``torch.set_flush_denormal``) changes no
update: Adam divides by sqrt(v) + eps with eps = 1e-8, and a second moment below 1e-38 adds less
than 1e-19 to that sum. GPUs are unaffected. The mode belongs to each CPU thread and threads inherit
it from the one that starts them, so ``train.py`` sets it before the run starts any.
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
