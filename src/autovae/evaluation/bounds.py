"""Importance-sampled bounds L_{alpha,K} on log p(x), streamed over chunks of samples.

K=5000 samples of a 784-pixel decoder do not fit in memory at once; the Rényi bound only needs a
running log-sum-exp (or mean, or max), so samples are drawn ``chunk`` at a time.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from autovae.divergences import sample_with_log_prob


@dataclass(frozen=True)
class BoundSpec:
    alpha: float = 1.0
    samples: int = 1
    name: str = ""

    @property
    def key(self) -> str:
        if self.name:
            return self.name
        a = "inf" if math.isinf(self.alpha) else f"{self.alpha:g}"
        return f"bound_a{a}_k{self.samples}"


@torch.no_grad()
def log_weights(model, x: torch.Tensor, samples: int) -> torch.Tensor:
    """log p(x, z_k) - log q(z_k | x) for k = 1..samples, shape (samples, B)."""
    q = model.posterior(x)
    z, log_q = sample_with_log_prob(q, samples)
    return model.log_likelihood_fn(x)(z) + model.prior().log_prob(z) - log_q


@torch.no_grad()
def estimate_bound(model, x: torch.Tensor, spec: BoundSpec, chunk: int = 500) -> torch.Tensor:
    """Per-example L_{alpha,K}; equals ``renyi_bound`` on all K log-weights at once."""
    alpha, remaining = spec.alpha, spec.samples
    acc = None
    while remaining > 0:
        n = min(chunk, remaining)
        lw = log_weights(model, x, n)
        if alpha == 1:
            part = lw.sum(0)
            acc = part if acc is None else acc + part
        elif math.isinf(alpha):
            part = lw.max(0).values
            acc = part if acc is None else torch.maximum(acc, part)
        else:
            part = torch.logsumexp((1 - alpha) * lw, 0)
            acc = part if acc is None else torch.logaddexp(acc, part)
        remaining -= n
    if alpha == 1:
        return acc / spec.samples
    if math.isinf(alpha):
        return acc
    return (acc - math.log(spec.samples)) / (1 - alpha)
