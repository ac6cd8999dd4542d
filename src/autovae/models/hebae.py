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
beta and Sigma, kept like batch norm's statistics. Because no bound trains sigma_i, it sits at its
floor, and a bound of N(mu_i, sigma_i^2 Sigma) would be set by that constant: the reported bounds
refit a multiplier of the scale on the validation split first (``model.scale_refit``).

``variant="official"`` is the authors' implementation (ramachandran-lab/HEBAE, MNIST/MNIST_HEBAE.py)
instead of the paper's equations: one log-scale per latent dimension per example (no floor),
z = mu + eps * sqrt(diag Sigma) * exp(log_scale) with the batch's standard deviations held constant
(no gradient, no Cholesky factor), the biased covariance (divided by m, no jitter) and Glorot-uniform
weights with zero biases. Its posterior is the diagonal N(mu_i, diag(Sigma) exp(2 log_scale)).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import MultivariateNormal, kl_divergence

from autovae.errors import ConfigError, UnknownOptionError
from autovae.inference.objectives import ObjectiveTerms
from autovae.models.components.networks import initialize
from autovae.models.vae import VAE


class BatchTooSmallError(ConfigError):
    """HEBAE's covariance needs more examples in a batch than latent dimensions."""


def empirical_moments(mu: torch.Tensor, jitter: float = 1e-5, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """beta (k,) and Sigma (k, k) of the means mu (m, k), with jitter on the diagonal; Sigma divides
    by m - 1 (unbiased) or by m (the authors' ``tfp.stats.covariance``)."""
    m, k = mu.shape
    if m <= k:
        raise BatchTooSmallError(f"HEBAE needs a batch larger than the latent dimension ({m} <= {k}): "
                                 "raise dataset.batch_size or lower model.net.latent_dim")
    beta = mu.mean(0)
    centred = mu - beta
    sigma = centred.T @ centred / (m - 1 if unbiased else m)
    if jitter:
        sigma = sigma + jitter * torch.eye(k, dtype=mu.dtype, device=mu.device)
    return beta, sigma


def hebae_regularizer(beta: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(beta, Sigma) || N(0, I)) = (tr Sigma + beta'beta - k - log|Sigma|) / 2."""
    k = beta.shape[-1]
    return 0.5 * (torch.diagonal(sigma).sum() + beta @ beta - k - torch.linalg.slogdet(sigma)[1])


VARIANTS = ("paper", "official")


class HEBAE(VAE):

    def __init__(self, architecture, pairing, likelihood, image_shape, latent_dim: int, lam: float = 1.0,
                 momentum: float = 0.1, jitter: float = 1e-5, min_scale: float = 1e-3, variant: str = "paper"):
        if variant not in VARIANTS:
            raise UnknownOptionError(f"unknown model.net.variant={variant!r}; valid: {', '.join(VARIANTS)}")
        # the encoder emits the mean, and one scale per example (paper) or one log-scale per
        # dimension per example (official)
        super().__init__(architecture, pairing, likelihood, image_shape, latent_dim,
                         encoder_outputs=latent_dim + (latent_dim if variant == "official" else 1))
        self.variant = variant
        pairs = {(g.spec.posterior, g.spec.prior) for g in self.pairing.groups}
        if pairs != {("normal", "normal")}:
            raise ValueError(f"model=hebae is Gaussian by construction: use posterior=normal prior=normal, got {pairs}")
        self.lam, self.momentum, self.min_scale = lam, momentum, min_scale
        self.jitter = 0.0 if variant == "official" else jitter
        self.register_buffer("running_beta", torch.zeros(self.latent_dim))
        self.register_buffer("running_sigma", torch.eye(self.latent_dim))
        if variant == "official":  # Keras' Dense default: Glorot-uniform kernels, zero biases
            initialize(self.encoder, "xavier")
            initialize(self.decoder, "xavier")

    @property
    def official(self) -> bool:
        return self.variant == "official"

    def settings(self):
        refit = ("; the reported bounds use a scale refitted after training, "
                 + ("a multiplier of the trained one" if self.posterior_scale_base == "trained"
                    else "shared by every example in place of the trained one")
                 + " (ran.posterior_scale_refit)" if self.posterior_scale is not None else "")
        floor = "at its floor min_scale" if not self.official else "shrinking without a floor"
        return {"lam": float(self.lam), "min_scale": float(self.min_scale), "variant": self.variant,
                "trained_objective": "reconstruction + lam * KL(N(beta, Sigma) || N(0, I))",
                "reported_elbo": f"of the posterior N(mu_i, .); its trained scale (reconstruction alone) sits "
                                 f"{floor}, and no bound trains it{refit}"}

    def _encode(self, x):
        h = self.network(self.encoder, x)
        k = self.latent_dim
        if self.official:
            return h[..., :k], torch.exp(h[..., k:])  # (B, k) per-dimension scales
        return h[..., :k], F.softplus(h[..., -1]) + self.min_scale  # (B,) one scale per example

    def _moments(self, mu):
        if not self.training:
            return self.running_beta, self.running_sigma
        beta, sigma = empirical_moments(mu, self.jitter, unbiased=not self.official)
        with torch.no_grad():
            self.running_beta.lerp_(beta.detach(), self.momentum)
            self.running_sigma.lerp_(sigma.detach(), self.momentum)
        return beta, sigma

    def _posterior_at(self, mu, scale, sigma):
        """N(mu_i, .) at the example's scale(s) and the batch (or running) covariance Sigma."""
        shared = self.posterior_scale is not None and self.posterior_scale_base == "shared"
        if self.official:  # diagonal: sqrt(diag Sigma) held constant, times the example's scales
            std = torch.diagonal(sigma).detach().sqrt()
            std = std.expand_as(mu) if shared else std * scale
            tril = torch.diag_embed(std if self.posterior_scale is None else std * self.posterior_scale)
        else:
            tril = torch.linalg.cholesky(sigma)
            tril = tril.expand(*mu.shape, mu.shape[-1]) if shared else scale[..., None, None] * tril
            if self.posterior_scale is not None:  # diag(s) sigma_i R: still lower triangular
                tril = self.posterior_scale[..., :, None] * tril if self.posterior_scale.ndim else self.posterior_scale * tril
        return MultivariateNormal(mu, scale_tril=tril, validate_args=False)

    def posterior(self, x):
        mu, scale = self._encode(x)
        _, sigma = self._moments(mu) if self.training else (None, self.running_sigma)
        return self._posterior_at(mu, scale, sigma)

    def prior(self):
        zeros = self.running_beta.new_zeros(self.latent_dim)
        return MultivariateNormal(zeros, scale_tril=torch.eye(self.latent_dim, device=zeros.device), validate_args=False)

    def loss_at_one_sample(self, divergence, log_likelihood, kl):
        return None  # the regularizer is of the moments, not of the one sample's KL

    def smallest_batch(self) -> int:
        return self.latent_dim + 1 if self.training else 1  # eval uses the running moments

    def objective(self, x, divergence):
        # In eval mode (validation's loss) the moments are the running ones and stay as they are;
        # the test bounds use ``posterior``, the proper N(mu_i, .), not this.
        mu, scale = self._encode(x)
        beta, sigma = self._moments(mu)
        q = self._posterior_at(mu, scale, sigma)
        z = q.rsample()  # paper: z = mu + sigma_i R eps; official: mu + eps sqrt(diag Sigma) exp(log_scale)
        ll = self.log_likelihood_fn(x)(z[None])[0]
        reg = hebae_regularizer(beta, sigma)
        kl = kl_divergence(q, self.prior())  # for the comparable ELBO only
        return ObjectiveTerms(-ll.mean() + self.lam * reg, ll - kl, -ll, kl, (ll - kl)[None], {"batch_kl": reg})
