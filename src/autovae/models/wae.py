"""WAE-MMD (Tolstikhin et al. 2018) with an inverse multiquadric kernel, as in the HEBAE appendix.

Loss = -E log p(x|z) + lambda MMD(q(z), p(z)) on the batch's codes against prior samples. The
encoder stays stochastic (the WAE paper allows random encoders), so the same ELBO, IWAE and NLL
bounds as the VAE's can be reported, though the WAE does not optimize them.
"""
from __future__ import annotations

import torch

from autovae.distributions.kl import kl_or_estimate
from autovae.inference.objectives import ObjectiveTerms
from autovae.models.vae import VAE


def imq_mmd(z: torch.Tensor, z_prior: torch.Tensor, prior_variance: float = 1.0,
            scales=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)) -> torch.Tensor:
    """Unbiased MMD^2 with k(x, y) = C / (C + |x - y|^2), summed over C = 2 k var * scale."""
    n, k = z.shape
    def gram(a, b):
        return torch.cdist(a, b).pow(2)
    dqq, dpp, dqp = gram(z, z), gram(z_prior, z_prior), gram(z, z_prior)
    off = 1 - torch.eye(n, device=z.device, dtype=z.dtype)
    total = z.new_zeros(())
    for s in scales:
        c = 2 * k * prior_variance * s
        kqq, kpp, kqp = c / (c + dqq), c / (c + dpp), c / (c + dqp)
        total = total + ((kqq + kpp) * off).sum() / (n * (n - 1)) - 2 * kqp.mean()
    return total


class WAE(VAE):
    def __init__(self, *args, lam: float = 10.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.lam = lam

    def loss_at_one_sample(self, divergence, log_likelihood, kl):
        return None  # the MMD is of the batch's codes against prior draws

    def smallest_batch(self) -> int:
        return 2  # the unbiased MMD averages over pairs of distinct codes

    def objective(self, x, divergence):
        q, p = self.posterior(x), self.prior()
        z = q.rsample((1,))
        ll = self.log_likelihood_fn(x)(z)[0]
        mmd = imq_mmd(z[0], p.sample((z.shape[1],)))
        kl = kl_or_estimate(q, p, z, q.log_prob(z))
        return ObjectiveTerms(-ll.mean() + self.lam * mmd, ll - kl, -ll, kl, (ll - kl)[None], {"mmd": mmd})
