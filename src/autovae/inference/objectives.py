"""The training objectives, named after their bounds: the (β-weighted) ELBO, the variational Rényi
bound and IWAE.

Each turns a posterior, a prior and a log-likelihood function into a training loss and a
per-example bound on log p(x). Posteriors are torch Distributions; a flow posterior is a
TransformedDistribution whose log_prob is taken at its own samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from autovae.distributions.kl import analytic_kl
from autovae.errors import ConfigError
from autovae.inference.log_weights import LogLikelihood, full_precision, log_weights, renyi_bound


@dataclass
class ObjectiveTerms:
    loss: torch.Tensor  # scalar to minimize
    bound: torch.Tensor  # (B,) lower bound on log p(x)
    reconstruction: torch.Tensor  # (B,) -E_q log p(x | z)
    kl: torch.Tensor  # (B,) KL(q || p), closed form or Monte Carlo
    log_weights: torch.Tensor | None  # (S, B) log p(x, z) - log q(z | x), where the objective computed them
    # A model's own terms of ``loss`` besides the likelihood, before their weight (HEBAE's batch KL,
    # WAE's MMD): logged as train/<name>, since ``kl`` is not what such a model trains.
    penalties: dict[str, torch.Tensor] = field(default_factory=dict)


def _checked_samples(samples) -> int:
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"divergence.samples={samples!r} is not allowed: it must be an integer >= 1")
    return samples


def _checked_number(key: str, value, allowed: str, ok=lambda v: True) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or math.isnan(number) or not ok(number):
        raise ConfigError(f"divergence.{key}={value!r} is not allowed: it must be {allowed}")
    return number


class Divergence:
    samples: int = 1

    def describe(self) -> dict:
        """What this objective is (name, alpha, K, beta), for metrics.json's record of what ran."""
        raise NotImplementedError

    def __call__(self, posterior, prior, log_likelihood: LogLikelihood) -> ObjectiveTerms:
        raise NotImplementedError

    def loss_at_one_sample(self, log_likelihood: torch.Tensor, kl: torch.Tensor) -> torch.Tensor | None:
        """The loss from a caller's one posterior sample, log p(x | z) (B,), and its KL (B,); None where the
        objective needs samples of its own. Saves validation a decoder pass (docs/performance.md)."""
        return None


class ELBO(Divergence):
    """The ELBO, E_q log p(x|z) - KL(q || p), with the KL weighted by beta for β-VAE.

    The KL is closed form when torch's registry (or ours) has the pair, else a Monte Carlo
    estimate from the same samples.
    """

    def __init__(self, beta: float = 1.0, samples: int = 1):
        self.beta = _checked_number("beta", beta, "a finite number >= 0", lambda b: math.isfinite(b) and b >= 0)
        self.samples = _checked_samples(samples)

    def describe(self) -> dict:
        return {"name": "kl", "beta": float(self.beta), "alpha": 1.0, "samples": self.samples}

    def __call__(self, posterior, prior, log_likelihood):
        kl = analytic_kl(posterior, prior)
        if kl is None:
            terms = log_weights(posterior, prior, log_likelihood, self.samples)
            ll, kl = terms.log_likelihood, (terms.log_posterior - terms.log_prior).mean(0)
            log_w = terms.log_weights
        else:  # closed form: the densities of the samples are not needed for the loss
            z = posterior.rsample((self.samples,))
            ll = full_precision(log_likelihood(z))
            log_w = None
        expected_ll = ll.mean(0)
        return ObjectiveTerms(self._loss(expected_ll, kl), expected_ll - kl, -expected_ll, kl, log_w)

    def _loss(self, expected_ll: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        return -(expected_ll - self.beta * kl).mean()

    def loss_at_one_sample(self, log_likelihood, kl):
        return self._loss(log_likelihood, kl) if self.samples == 1 else None


class RenyiBound(Divergence):
    """Variational Rényi bound L_{alpha,K} (Li & Turner 2016) with K importance samples."""

    def __init__(self, alpha: float = 0.5, samples: int = 5):
        self.alpha = _checked_number("alpha", alpha, "a number (or .inf / -.inf for VR-max and VR-min)")
        self.samples = _checked_samples(samples)

    def describe(self) -> dict:
        return {"name": "renyi", "alpha": self.alpha, "samples": self.samples, "beta": 1.0}

    def __call__(self, posterior, prior, log_likelihood):
        terms = log_weights(posterior, prior, log_likelihood, self.samples)
        log_w = terms.log_weights
        bound = renyi_bound(log_w, self.alpha)
        kl = (terms.log_posterior - terms.log_prior).mean(0)
        return ObjectiveTerms(-bound.mean(), bound, -terms.log_likelihood.mean(0), kl, log_w)


class IWAE(RenyiBound):
    """The importance-weighted bound: Rényi with alpha = 0."""

    def __init__(self, samples: int = 5):
        super().__init__(alpha=0.0, samples=samples)


# The names of the flat layout (recorded targets are rewritten to the new ones on read); for one release.
KL, Renyi = ELBO, RenyiBound
