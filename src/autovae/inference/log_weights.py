"""Importance weights and the Rényi family of bounds: the one place where both are computed.

Training (``divergences``), the test bounds and the NLL (``evaluation.bounds``) and q_EW sampling
(``evaluation.sampling``) all call :func:`log_weights` and reduce with :func:`renyi_bound` or, when
the samples arrive in chunks, :class:`StreamingRenyi`. Every value here is float32: the networks may
run in bf16, the densities and the log-sum-exp never do.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

LogLikelihood = Callable[[torch.Tensor], torch.Tensor]  # z (S, B, D) -> log p(x | z) (S, B)


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 values as float32; float32 and float64 unchanged."""
    return t.float() if t.is_floating_point() and t.element_size() < 4 else t


def sample_with_log_prob(posterior, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``samples`` reparameterized draws z (S, B, D) and log q(z | x) (S, B). The log-density is taken
    of the very draws, which is all a flow posterior can give (its transforms invert only their own
    outputs)."""
    z = posterior.rsample((samples,))
    return z, posterior.log_prob(z)


@dataclass
class WeightTerms:
    z: torch.Tensor  # (S, B, D)
    log_likelihood: torch.Tensor  # (S, B) log p(x | z)
    log_prior: torch.Tensor  # (S, B) log p(z)
    log_posterior: torch.Tensor  # (S, B) log q(z | x)

    @property
    def log_weights(self) -> torch.Tensor:
        """log w = log p(x, z) - log q(z | x), (S, B)."""
        return self.log_likelihood + self.log_prior - self.log_posterior


def log_weights(posterior, prior, log_likelihood: LogLikelihood, samples: int) -> WeightTerms:
    z, log_q = sample_with_log_prob(posterior, samples)
    return WeightTerms(z, *(full_precision(t) for t in (log_likelihood(z), prior.log_prob(z), log_q)))


def renyi_bound(log_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """L_alpha = 1/(1-alpha) log mean_k w_k^(1-alpha) over the sample axis 0.

    alpha=1 is the ELBO (mean of log w), alpha=0 the IWAE bound, alpha=-inf VR-max (max log w) and
    alpha=+inf the minimum of log w (the limits of the formula). Differentiating the logsumexp gives
    the self-normalized weights softmax((1-alpha) log w).
    """
    acc = StreamingRenyi(alpha)
    acc.update(log_w)
    return acc.result()


class StreamingRenyi:
    """L_{alpha,K} over log-weights that arrive in chunks along the sample axis.

    Only a running sum, log-sum-exp, maximum or minimum is kept, so K=5000 never has to be in memory.
    """

    def __init__(self, alpha: float):
        self.alpha = float(alpha)
        self.count = 0
        self.acc: torch.Tensor | None = None

    def update(self, log_w: torch.Tensor) -> None:
        log_w = full_precision(log_w)
        a = self.alpha
        if a == 1:
            part, combine = log_w.sum(0), torch.add
        elif math.isinf(a):
            part, combine = (log_w.max(0).values, torch.maximum) if a < 0 else (log_w.min(0).values, torch.minimum)
        else:
            part, combine = torch.logsumexp((1 - a) * log_w, 0), torch.logaddexp
        self.acc = part if self.acc is None else combine(self.acc, part)
        self.count += log_w.shape[0]

    def result(self) -> torch.Tensor:
        if self.acc is None:
            raise ValueError("no log-weights were given")
        a = self.alpha
        if a == 1:
            return self.acc / self.count
        if math.isinf(a):
            return self.acc
        return (self.acc - math.log(self.count)) / (1 - a)
