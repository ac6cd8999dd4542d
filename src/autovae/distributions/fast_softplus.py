"""softplus(l) = log(1 + e^l) by whichever of two exact forms is faster on the tensor's device.

torch's softplus computes log1p. On some AVX512 CPUs (an AMD EPYC here) torch's vectorized log1p
runs about twelve times slower than log, and the softplus was nearly half of the K=5000 NLL's time
(docs/performance.md); on others (an Intel Xeon here) it is under three times log, and torch's
one-pass softplus beats any composition of elementwise ops. So on a CPU the form is chosen once per
process by timing log1p against log; on GPUs torch's own kernel is used. The log form,
max(l, 0) + log(1 + e^-|l|), differs from log1p's by at most one float32 ulp of 1 (1.2e-7 nats) per
element, far below the bounds' float32 rounding, and its backward saves only the input. Used by the
pixel likelihoods, the posterior scales and the logistic density.
"""
from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F

# log1p costs at most this many times log where torch's softplus is the faster form: measured 2.9x
# on an Intel Xeon (torch's softplus 1.3x faster forward and backward) and 12x on an AMD EPYC (the
# log form 3.7x faster on the NLL); the limit sits between them with room for timing noise.
LOG1P_COST_LIMIT = 5.0


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


def log1p_is_slow(log1p_seconds: float, log_seconds: float) -> bool:
    """Whether a CPU whose log1p and log took these times should use the log form."""
    return log1p_seconds > LOG1P_COST_LIMIT * log_seconds


@functools.cache
def _cpu_log1p_is_slow() -> bool:
    """Times log1p against log on this CPU, once per process (milliseconds)."""
    x = torch.rand(1 << 18) + 0.5  # 1 MiB: large enough that thread start-up does not mask the kernels

    def fastest(op) -> float:
        best = float("inf")
        for _ in range(7):
            start = time.perf_counter()
            op(x)
            best = min(best, time.perf_counter() - start)
        return best

    fastest(torch.log1p), fastest(torch.log)  # warm-up: first calls pay for dispatch and page faults
    return log1p_is_slow(fastest(torch.log1p), fastest(torch.log))


def softplus_form(device: torch.device | str) -> str:
    """The form ``softplus`` uses on ``device``: "log" (without log1p) or "torch" (F.softplus)."""
    return "log" if torch.device(device).type == "cpu" and _cpu_log1p_is_slow() else "torch"


def softplus(logits: torch.Tensor) -> torch.Tensor:
    """log(1 + e^l) per element, as ``F.softplus`` computes it, by the faster form on this device."""
    if softplus_form(logits.device) == "log":
        return log_softplus(logits)
    return F.softplus(logits)
