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


class FlowPosterior:
    """q_K: draws z_0 from the base posterior, pushes it through the flows, tracks the density."""

    def __init__(self, base, params: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
        self.base, self.params = base, params

    def _push(self, z):
        total = torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        for u, w, b in self.params:
            z, log_det = planar_step(z, u, w, b)
            total = total + log_det
        return z, total

    def rsample_and_log_prob(self, n: int):
        z0 = self.base.rsample((n,))
        z, log_det = self._push(z0)
        return z, self.base.log_prob(z0) - log_det

    def rsample(self, sample_shape=torch.Size()):
        return self._push(self.base.rsample(sample_shape))[0]

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.rsample(sample_shape)

    @property
    def mean(self):
        """The flows applied to the base posterior's centre (a point summary for reconstructions)."""
        return self._push(self.base.mean)[0]


class PlanarFlowVAE(VAE):
    def __init__(self, *args, flows: int = 4, amortized: bool = False, **kwargs):
        self.flows, self.amortized = flows, amortized  # read by encoder_output_size during super().__init__
        super().__init__(*args, **kwargs)
        d = self.latent_dim
        if not amortized:
            self.u = nn.Parameter(torch.randn(flows, d) * 0.01)
            self.w = nn.Parameter(torch.randn(flows, d) * 0.01)
            self.b = nn.Parameter(torch.zeros(flows, 1))

    def settings(self):
        return {"flows": int(self.flows), "amortized": bool(self.amortized)}

    def encoder_output_size(self) -> int:
        extra = self.flows * (2 * self.latent_dim + 1) if self.amortized else 0
        return 2 * self.latent_dim + extra

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
        return base if self.flows == 0 else FlowPosterior(base, self._flow_params(h))
