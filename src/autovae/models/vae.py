"""The VAE's generative model as plain ``nn.Module`` math: encoder -> pairing (posterior, prior) ->
decoder -> likelihood, and the training objective the divergence makes of them.

No training loop lives here: ``autovae.lightning.module.AutoVAEModule`` drives this class and every
subclass (HEBAE, planar flows, WAE) with one loop, one set of metrics and one evaluation. A new
model is a subclass that overrides ``posterior`` and/or ``objective`` (docs/extending.md, "Adding a model").
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Sequence

import torch
from torch import nn

from autovae.distributions.likelihoods import Likelihood
from autovae.distributions.pairing import Pairing
from autovae.inference.log_weights import WeightTerms, full_precision, log_weights
from autovae.inference.objectives import Divergence, ObjectiveTerms


class VAE(nn.Module):

    def __init__(self, architecture: Callable[..., tuple[nn.Module, nn.Module]], pairing: Pairing,
                 likelihood: Likelihood, image_shape: Sequence[int], latent_dim: int,
                 encoder_outputs: int | None = None):
        """``encoder_outputs`` is the encoder's width; a model whose posterior reads more (or fewer)
        than a location and a scale per latent dimension passes its own."""
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.pairing = pairing
        self.likelihood = likelihood
        self.encoder, self.decoder = architecture(
            image_shape=self.image_shape, latent_dim=latent_dim, params_per_pixel=likelihood.params_per_pixel,
            encoder_outputs=2 * latent_dim if encoder_outputs is None else encoder_outputs)
        self._network_dtype: torch.dtype | None = None  # set by densities_in_fp32 under autocast
        # A multiplier of the posterior's scale fitted after training (inference/scale_refit.py, model.scale_refit),
        # for models whose scale no bound trains; None (the trained scale) everywhere else. Its base: the
        # example's trained scale ("trained"), or one scale shared by every example ("shared"), for encoders
        # whose trained scales are spread over orders of magnitude with nothing to keep them meaningful.
        self.posterior_scale: torch.Tensor | None = None
        self.posterior_scale_base: str = "trained"

    # -- precision: networks in the autocast dtype, densities in float32 ----------------------
    def network(self, net: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        """A network's output in float32; the network itself runs in the trainer's autocast dtype."""
        if self._network_dtype is None:
            return full_precision(net(inputs))
        with torch.autocast(inputs.device.type, dtype=self._network_dtype):
            return full_precision(net(inputs))

    @contextmanager
    def densities_in_fp32(self):
        """Turns autocast off, except inside ``network``: under bf16-mixed the encoder and decoder
        compute in bf16, while log-densities, KLs, log-sum-exps and bounds stay float32."""
        device = next(self.parameters()).device.type
        on = torch.is_autocast_enabled(device)
        self._network_dtype = torch.get_autocast_dtype(device) if on else None
        try:
            with torch.autocast(device, enabled=False):
                yield
        finally:
            self._network_dtype = None

    # -- the generative pieces -------------------------------------------------------------
    def posterior(self, x: torch.Tensor):
        h = self.network(self.encoder, x)
        loc, raw_scale = h.chunk(2, dim=-1)
        return self.pairing_posterior(loc, raw_scale)

    def pairing_posterior(self, loc: torch.Tensor, raw_scale: torch.Tensor):
        """The pairing's posterior at the encoder's location and (unconstrained) scale outputs."""
        scale = self.pairing.scale(raw_scale)
        if self.posterior_scale is not None:
            scale = (scale * self.posterior_scale if self.posterior_scale_base == "trained"
                     else self.posterior_scale.expand_as(scale))
        return self.pairing.posterior(loc, scale)

    def prior(self):
        return self.pairing.prior()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.network(self.decoder, z)

    def log_likelihood_fn(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda z: self.likelihood.log_prob(x, self.decode(z))

    def log_weights(self, x: torch.Tensor, samples: int, posterior=None) -> WeightTerms:
        """log p(x, z_k) - log q(z_k | x) and its terms for ``samples`` draws z_k ~ q(z | x)."""
        q = posterior if posterior is not None else self.posterior(x)
        return log_weights(q, self.prior(), self.log_likelihood_fn(x), samples)

    def objective(self, x: torch.Tensor, divergence: Divergence) -> ObjectiveTerms:
        """The training loss and per-example bound that ``divergence`` makes of this model. In eval mode
        the same loss on held-out images (validation's ``val/loss``), without updating any state."""
        return divergence(self.posterior(x), self.prior(), self.log_likelihood_fn(x))

    def smallest_batch(self) -> int:
        """The fewest images a batch must hold for ``objective`` in the current mode (HEBAE's covariance
        and WAE's MMD need several); the loop skips a shorter last batch instead of failing on it."""
        return 1

    def loss_at_one_sample(self, divergence: Divergence, log_likelihood: torch.Tensor,
                           kl: torch.Tensor) -> torch.Tensor | None:
        """``objective``'s loss from a caller's one posterior sample (log p(x | z) and KL, both (B,)), or
        None where the loss needs samples or statistics of its own; saves validation a decoder pass."""
        return divergence.loss_at_one_sample(log_likelihood, kl)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        z = self.prior().sample((n,))
        return self.likelihood.mean(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decode(self.posterior(x).mean))

    # -- what ran ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """This model's part of metrics.json's ``ran`` block, from the objects themselves."""
        return {"model": type(self).__name__, "likelihood": self.likelihood.describe(),
                "pairing": self.pairing.describe(), "latent_dim": self.latent_dim,
                "image_shape": list(self.image_shape), **self.settings()}

    def settings(self) -> dict[str, Any]:
        """A model's own constants (HEBAE's lambda, the number of flows), for the ``ran`` record."""
        return {}
