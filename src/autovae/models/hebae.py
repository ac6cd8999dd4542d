"""HEBAE: the hierarchical empirical Bayes autoencoder (the HEBAE paper, Eqs. 5-11).

The encoder gives a mean mu(x_i) and one scale sigma_i per example. The batch's means give the
empirical mean beta and full covariance Sigma; the posterior is N(mu_i, sigma_i^2 Sigma), sampled as
z = mu_i + sigma_i R eps with R = chol(Sigma). The regularizer is lambda KL(N(beta, Sigma) || N(0, I)).

Two corrections to the paper's printed formulas, both checked in tests/models/test_models.py:
- Eq. (11) prints lambda [tr(Sigma) - k - log|Sigma| - beta'beta]; the KL it stands for (Eq. 13/17)
  is (1/2) [tr(Sigma) - k - log|Sigma| + beta'beta]. We use the KL itself, so lambda=1 is the VAE's weight.
- Eq. (16) omits mu' mu / sigma^2 from KL(N(mu, sigma^2 Sigma) || N(0, sigma^2 I)).

How sigma_i is trained (the paper leaves it open): only through the reconstruction term, as the
paper argues ("fully dictated by the reconstruction"), floored at ``min_scale`` so that it never
collapses to a point mass. Evaluation (batches of any size, single images) uses running averages of
beta and Sigma, kept like batch norm's statistics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal, kl_divergence

from autovae.divergences import Objective
from autovae.errors import ConfigError
from autovae.models.vae import VAE


class BatchTooSmallError(ConfigError):
    """HEBAE's covariance needs more examples in a batch than latent dimensions."""


def empirical_moments(mu: torch.Tensor, jitter: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """beta (k,) and Sigma (k, k) of the means mu (m, k), with jitter on the diagonal."""
    m, k = mu.shape
    if m <= k:
        raise BatchTooSmallError(f"HEBAE needs a batch larger than the latent dimension ({m} <= {k}): "
                                 "raise dataset.batch_size or lower model.net.latent_dim")
    beta = mu.mean(0)
    centred = mu - beta
    sigma = centred.T @ centred / (m - 1) + jitter * torch.eye(k, dtype=mu.dtype, device=mu.device)
    return beta, sigma


def hebae_regularizer(beta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(beta, Sigma) || N(0, I)) = (tr Sigma + beta'beta - k - log|Sigma|) / 2."""
    k = beta.shape[-1]
    return 0.5 * (torch.diagonal(sigma).sum() + beta @ beta - k - torch.linalg.slogdet(sigma)[1])


class HEBAE(VAE):
    def __init__(self, *args, lam: float = 1.0, momentum: float = 0.1, jitter: float = 1e-5,
                 min_scale: float = 1e-3, **kwargs):
        super().__init__(*args, **kwargs)
        pairs = {(g.spec.posterior, g.spec.prior) for g in self.pairing.groups}
        if pairs != {("normal", "normal")}:
            raise ValueError(f"model=hebae is Gaussian by construction: use posterior=normal prior=normal, got {pairs}")
        self.lam, self.momentum, self.jitter, self.min_scale = lam, momentum, jitter, min_scale
        self.register_buffer("running_beta", torch.zeros(self.latent_dim))
        self.register_buffer("running_sigma", torch.eye(self.latent_dim))

    def encoder_output_size(self) -> int:
        return self.latent_dim + 1  # the mean and one scale per example

    def settings(self):
        # What trains is lambda * KL(N(beta, Sigma) || N(0, I)) plus the reconstruction; the ELBO that
        # is reported is that of N(mu_i, sigma_i^2 Sigma), and sigma_i (trained by the reconstruction
        # alone) sits at min_scale within a few hundred steps, so that ELBO is set by the floor.
        return {"lam": float(self.lam), "min_scale": float(self.min_scale),
                "trained_objective": "reconstruction + lam * KL(N(beta, Sigma) || N(0, I))",
                "reported_elbo": "of N(mu_i, sigma_i^2 Sigma) with sigma_i at its floor min_scale: not optimized"}

    def _encode(self, x):
        h = self.network(self.encoder, x)
        return h[..., :-1], F.softplus(h[..., -1]) + self.min_scale

    def _moments(self, mu):
        if not self.training:
            return self.running_beta, self.running_sigma
        beta, sigma = empirical_moments(mu, self.jitter)
        with torch.no_grad():
            self.running_beta.lerp_(beta.detach(), self.momentum)
            self.running_sigma.lerp_(sigma.detach(), self.momentum)
        return beta, sigma

    def posterior(self, x):
        mu, scale = self._encode(x)
        _, sigma = self._moments(mu) if self.training else (None, self.running_sigma)
        chol = torch.linalg.cholesky(sigma)
        return MultivariateNormal(mu, scale_tril=scale[..., None, None] * chol, validate_args=False)

    def prior(self):
        zeros = self.running_beta.new_zeros(self.latent_dim)
        return MultivariateNormal(zeros, scale_tril=torch.eye(self.latent_dim, device=zeros.device), validate_args=False)

    def loss_at_one_sample(self, divergence, log_likelihood, kl):
        return None  # the regularizer is of the moments, not of the one sample's KL

    def smallest_batch(self) -> int:
        return self.latent_dim + 1 if self.training else 1  # eval uses the running moments

    def objective(self, x, divergence):
        # In eval mode (validation's loss) the moments are the running ones and stay as they are;
        # the test bounds use ``posterior``, the proper N(mu_i, sigma_i^2 Sigma), not this.
        mu, scale = self._encode(x)
        beta, sigma = self._moments(mu)
        q = MultivariateNormal(mu, scale_tril=scale[..., None, None] * torch.linalg.cholesky(sigma),
                               validate_args=False)
        z = q.rsample()  # z = mu + sigma_i R eps
        ll = self.log_likelihood_fn(x)(z[None])[0]
        reg = hebae_regularizer(beta, sigma)
        kl = kl_divergence(q, self.prior())  # for the comparable ELBO only
        return Objective(-ll.mean() + self.lam * reg, ll - kl, -ll, kl, (ll - kl)[None])
