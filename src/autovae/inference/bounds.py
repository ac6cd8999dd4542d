"""Importance-sampled bounds L_{alpha,K} on log p(x), streamed over chunks of samples.

K=5000 samples of a 784-pixel decoder do not fit in memory at once; the Rényi bound only needs a
running log-sum-exp (or mean, max, min), so samples are drawn ``chunk`` at a time. Bounds evaluated
together share their encoder pass and their samples: L_{1,1} is the first of the 50 samples that
give L_{0,50}.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

from autovae.inference.log_weights import StreamingRenyi


@dataclass(frozen=True)
class BoundSpec:
    alpha: float = 1.0
    samples: int = 1
    name: str = ""

    def __post_init__(self):
        if int(self.samples) < 1:
            raise ValueError(f"a bound needs at least one importance sample, got samples={self.samples}")
        if math.isnan(float(self.alpha)):
            raise ValueError("a bound's alpha must be a number or +-inf, got nan")

    @property
    def key(self) -> str:
        """A metric name: bound_a0_k50, bound_a-inf_k5 and bound_ainf_k5 are three different bounds."""
        return self.name or f"bound_a{float(self.alpha):g}_k{int(self.samples)}"


@torch.no_grad()
def log_weights(model, x: torch.Tensor, samples: int, posterior=None) -> torch.Tensor:
    """log p(x, z_k) - log q(z_k | x) for k = 1..samples, shape (samples, B)."""
    return model.log_weights(x, samples, posterior=posterior).log_weights


@torch.no_grad()
def estimate_bounds(model, x: torch.Tensor, specs: Sequence[BoundSpec], chunk: int = 500,
                    posterior=None, progress: Callable[[int], Any] | None = None) -> dict[str, torch.Tensor]:
    """Per-example L_{alpha,K} for each spec from one stream of samples: spec i uses the first K_i.

    ``progress(n)`` is called after each chunk with the number of samples it drew."""
    if not specs:
        return {}
    q = posterior if posterior is not None else model.posterior(x)
    reducers = {s.key: (s, StreamingRenyi(s.alpha)) for s in specs}
    drawn, total = 0, max(s.samples for s in specs)
    while drawn < total:
        n = min(chunk, total - drawn)
        lw = log_weights(model, x, n, posterior=q)
        for spec, reducer in reducers.values():
            if spec.samples > drawn:
                reducer.update(lw[: spec.samples - drawn])
        drawn += n
        if progress is not None:
            progress(n)
    return {key: reducer.result() for key, (_, reducer) in reducers.items()}


def estimate_bound(model, x: torch.Tensor, spec: BoundSpec, chunk: int = 500) -> torch.Tensor:
    """Per-example L_{alpha,K}; equals ``renyi_bound`` on all K log-weights at once."""
    return estimate_bounds(model, x, [spec], chunk)[spec.key]
