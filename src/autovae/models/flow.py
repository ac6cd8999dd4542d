"""A VAE whose posterior is its pairing's posterior followed by K planar flows (Rezende & Mohamed 2015).

f(z) = z + u_hat tanh(w'z + b), with u_hat = u + (m(w'u) - w'u) w / |w|^2 and m(a) = -1 + softplus(a)
so that w'u_hat >= -1 and f stays invertible. log q_K(z_K) = log q_0(z_0) - sum_k log|1 + u_hat' psi_k|,
psi_k = (1 - tanh^2(w'z + b)) w: the report's Eq. (11). Flow parameters are global, or amortized
(emitted by the encoder per example). K=0 is exactly the plain VAE.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import TransformedDistribution, constraints
from torch.distributions.transforms import Transform

from autovae.models.vae import VAE


def constrain_u(u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    wu = (w * u).sum(-1, keepdim=True)
    return u + (-1 + F.softplus(wu) - wu) * w / (w * w).sum(-1, keepdim=True).clamp_min(1e-12)


def planar_step(z, u, w, b):
    """One flow on z (..., D); returns f(z) and log|det df/dz| (...)."""
    u_hat = constrain_u(u, w)
    a = torch.tanh((z * w).sum(-1, keepdim=True) + b)
    psi = (1 - a ** 2) * w
    log_det = torch.log((1 + (psi * u_hat).sum(-1)).abs() + 1e-12)
    return z + u_hat * a, log_det


class PlanarTransform(Transform):
    """One planar flow as a torch Transform. It is invertible (w'u_hat >= -1) but has no closed-form
    inverse, so, as Pyro's Planar, it inverts only its own outputs (``cache_size=1``): the density of
    a flow posterior is known at the samples it draws, which is all a bound needs."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        super().__init__(cache_size=1)
        self.u, self.w, self.b = u, w, b
        self._log_det: tuple[torch.Tensor, torch.Tensor] | None = None  # (output, its log-det) of the last call

    def _call(self, z):
        y, log_det = planar_step(z, self.u, self.w, self.b)
        self._log_det = (y, log_det)
        return y

    def _inverse(self, y):
        raise NotImplementedError("a planar flow has no closed-form inverse: its posterior's log_prob is "
                                  "known only at the samples it drew itself (rsample, then log_prob of them)")

    def log_abs_det_jacobian(self, x, y):
        if self._log_det is not None and self._log_det[0] is y:
            return self._log_det[1]
        return planar_step(x, self.u, self.w, self.b)[1]


class PlanarFlowPosterior(TransformedDistribution):
    """q_K: the base posterior pushed through K planar transforms."""

    def __init__(self, base, params: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
        super().__init__(base, [PlanarTransform(u, w, b) for u, w, b in params], validate_args=False)

    @property
    def mean(self):
        """The flows applied to the base posterior's centre (a point summary for reconstructions),
        computed beside the transforms' caches so that it never evicts a sample's inverse."""
        z = self.base_dist.mean
        for t in self.transforms:
            z = planar_step(z, t.u, t.w, t.b)[0]
        return z


class PlanarFlowVAE(VAE):
    def __init__(self, architecture, pairing, likelihood, image_shape, latent_dim: int,
                 flows: int = 4, amortized: bool = False):
        # amortized: the encoder also emits each flow's (u, w, b) for every example
        extra = flows * (2 * latent_dim + 1) if amortized else 0
        super().__init__(architecture, pairing, likelihood, image_shape, latent_dim,
                         encoder_outputs=2 * latent_dim + extra)
        self.flows, self.amortized = flows, amortized
        d = latent_dim
        if not amortized:
            self.u = nn.Parameter(torch.randn(flows, d) * 0.01)
            self.w = nn.Parameter(torch.randn(flows, d) * 0.01)
            self.b = nn.Parameter(torch.zeros(flows, 1))

    def settings(self):
        return {"flows": int(self.flows), "amortized": bool(self.amortized)}

    def _flow_params(self, h):
        d, k = self.latent_dim, self.flows
        if not self.amortized:
            return [(self.u[i], self.w[i], self.b[i]) for i in range(k)]
        per = h[..., 2 * d:].reshape(*h.shape[:-1], k, 2 * d + 1)
        return [(per[..., i, :d], per[..., i, d:2 * d], per[..., i, 2 * d:]) for i in range(k)]

    def posterior(self, x):
        h = self.network(self.encoder, x)
        d = self.latent_dim
        base = self.pairing_posterior(h[..., :d], h[..., d:2 * d])
        return base if self.flows == 0 else PlanarFlowPosterior(base, self._flow_params(h))
