"""Discrepancy measures: the (β-weighted) KL ELBO and the variational Rényi bound.

Each divergence turns a posterior, a prior and a log-likelihood function into a training loss and
a per-example bound on log p(x). Posteriors are anything with ``rsample`` and ``log_prob`` (a
torch Distribution), or with ``rsample_and_log_prob`` (a flow, whose density is known only along
its samples).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch.distributions import kl_divergence

LogLikelihood = Callable[[torch.Tensor], torch.Tensor]  # z (S, B, D) -> log p(x | z) (S, B)


@dataclass
class Objective:
    loss: torch.Tensor  # scalar to minimize
    bound: torch.Tensor  # (B,) lower bound on log p(x)
    reconstruction: torch.Tensor  # (B,) -E_q log p(x | z)
    kl: torch.Tensor  # (B,) KL(q || p), closed form or Monte Carlo
    log_weights: torch.Tensor | None  # (S, B) log p(x, z) - log q(z | x), where the objective computed them


def sample_with_log_prob(posterior, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(posterior, "rsample_and_log_prob"):
        return posterior.rsample_and_log_prob(samples)
    z = posterior.rsample((samples,))
    return z, posterior.log_prob(z)


def analytic_kl(posterior, prior) -> torch.Tensor | None:
    try:
        return kl_divergence(posterior, prior)
    except (NotImplementedError, TypeError):
        return None


def renyi_bound(log_w: torch.Tensor, alpha: float) -> torch.Tensor:
    """L_alpha = 1/(1-alpha) log mean_k w_k^(1-alpha) over the sample axis 0.

    alpha=1 is the ELBO (mean of log w), alpha=0 the IWAE bound, alpha=-inf VR-max (max log w).
    Differentiating the logsumexp gives the self-normalized weights softmax((1-alpha) log w).
    """
    if alpha == 1:
        return log_w.mean(0)
    if math.isinf(alpha) and alpha < 0:
        return log_w.max(0).values
    k = log_w.shape[0]
    return (torch.logsumexp((1 - alpha) * log_w, dim=0) - math.log(k)) / (1 - alpha)


class Divergence:
    samples: int = 1

    def __call__(self, posterior, prior, log_likelihood: LogLikelihood) -> Objective:
        raise NotImplementedError

    def _draw(self, posterior, prior, log_likelihood, samples):
        z, log_q = sample_with_log_prob(posterior, samples)
        ll = log_likelihood(z)
        log_p = prior.log_prob(z)
        return ll, log_p, log_q


class KL(Divergence):
    """ELBO = E_q log p(x|z) - KL(q || p), with the KL weighted by beta for β-VAE.

    The KL is closed form when torch's registry (or ours) has the pair, else a Monte Carlo
    estimate from the same samples.
    """

    def __init__(self, beta: float = 1.0, samples: int = 1):
        self.beta = beta
        self.samples = samples

    def __call__(self, posterior, prior, log_likelihood):
        kl = analytic_kl(posterior, prior)
        if kl is None:
            ll, log_p, log_q = self._draw(posterior, prior, log_likelihood, self.samples)
            kl = (log_q - log_p).mean(0)
            log_w = ll + log_p - log_q
        else:  # closed form: the densities of the samples are not needed for the loss
            z = posterior.rsample((self.samples,))
            ll = log_likelihood(z)
            log_w = None
        expected_ll = ll.mean(0)
        loss = -(expected_ll - self.beta * kl).mean()
        return Objective(loss, expected_ll - kl, -expected_ll, kl, log_w)


class Renyi(Divergence):
    """Variational Rényi bound L_{alpha,K} (Li & Turner 2016) with K importance samples."""

    def __init__(self, alpha: float = 0.5, samples: int = 5):
        if samples < 1:
            raise ValueError(f"divergence.samples must be >= 1, got {samples}")
        self.alpha = float(alpha)
        self.samples = samples

    def __call__(self, posterior, prior, log_likelihood):
        ll, log_p, log_q = self._draw(posterior, prior, log_likelihood, self.samples)
        log_w = ll + log_p - log_q
        bound = renyi_bound(log_w, self.alpha)
        return Objective(-bound.mean(), bound, -ll.mean(0), (log_q - log_p).mean(0), log_w)


class IWAE(Renyi):
    """The importance-weighted bound: Rényi with alpha = 0."""

    def __init__(self, samples: int = 5):
        super().__init__(alpha=0.0, samples=samples)
