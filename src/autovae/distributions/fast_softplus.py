"""softplus(l) = log(1 + e^l) by whichever of two exact forms is faster on the tensor's device.

torch's softplus computes log1p. On AMD's AVX512 CPUs (an EPYC here) torch's vectorized log1p runs
about twelve times slower than log, and the softplus was nearly half of the K=5000 NLL's time
(docs/performance.md); on an Intel Xeon here it is under three times log, and torch's one-pass
softplus beats any composition of elementwise ops. So AMD CPUs use the log form and every other
device torch's own kernel. The choice rests on the CPU's vendor, not on a timing, so that every
process on a machine computes the same values (a run evaluated again, or a trial retrained, must
give its figures exactly; a timing taken on a busy machine could choose differently). The log form,
max(l, 0) + log(1 + e^-|l|), differs from log1p's by at most one float32 ulp of 1 (1.2e-7 nats) per
element, far below the bounds' float32 rounding, and its backward saves only the input. Used by the
pixel likelihoods, the posterior scales and the logistic density.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Vendors whose CPUs take the log form: measured log1p at 12x log on an AMD EPYC (the log form 3.7x
# faster on the NLL) and at 2.9x on an Intel Xeon (torch's softplus 1.3x faster forward and backward).
LOG_FORM_VENDORS = ("AuthenticAMD",)


class _LogSoftplus(torch.autograd.Function):
    """max(l, 0) + log(1 + exp(-|l|)), with the exact gradient sigmoid(l)."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits)
        # clamp_min, not clamp(min=): the latter runs ~3x slower on CPU (0.19 against 0.07 ms per 784k floats)
        return logits.abs().neg_().exp_().add_(1).log_().add_(logits.clamp_min(0))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (logits,) = ctx.saved_tensors
        return grad * torch.sigmoid(logits)


def log_softplus(logits: torch.Tensor) -> torch.Tensor:
    """softplus without log1p: max(l, 0) + log(1 + e^-|l|)."""
    return _LogSoftplus.apply(logits)


def read_cpu_vendor() -> str:
    """This machine's CPU vendor as the kernel reports it ("GenuineIntel", "AuthenticAMD"; "" if unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("vendor_id")), "")
    except OSError:
        return ""


# Read once at import, not on each call: torch.compile cannot trace a file read, so a call inside
# ``softplus`` broke every compiled graph that holds a density in two.
CPU_VENDOR = read_cpu_vendor()


def form_for(device_type: str, vendor: str) -> str:
    """The softplus form for a device type on a machine whose CPU vendor is ``vendor``."""
    return "log" if device_type == "cpu" and vendor in LOG_FORM_VENDORS else "torch"


def softplus_form(device: torch.device | str) -> str:
    """The form ``softplus`` uses on ``device``: "log" (without log1p) or "torch" (F.softplus)."""
    return form_for(torch.device(device).type, CPU_VENDOR)


def softplus(logits: torch.Tensor) -> torch.Tensor:
    """log(1 + e^l) per element, as ``F.softplus`` computes it, by the faster form on this device."""
    if softplus_form(logits.device) == "log":
        return log_softplus(logits)
    return F.softplus(logits)
