"""Free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive flow").

Training minimises reconstruction + max(KL, free_nats) per example, so the encoder is not pushed to
spend fewer than ``free_nats`` nats on an image (a guard against posterior collapse). The bound it
reports, in training and evaluation alike, is the divergence's own (the ELBO under ``divergence=kl``):
free bits change what is optimised, never what is measured.
"""
from __future__ import annotations

import dataclasses

from autovae.inference.objectives import Divergence, ObjectiveTerms
from autovae.models.vae import VAE


class FreeBitsVAE(VAE):
    def __init__(self, *args, free_nats: float = 2.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.free_nats = free_nats

    def objective(self, x, divergence: Divergence) -> ObjectiveTerms:
        out = super().objective(x, divergence)
        return dataclasses.replace(out, loss=self._loss(out.reconstruction, out.kl))

    def loss_at_one_sample(self, divergence, log_likelihood, kl):
        if divergence.loss_at_one_sample(log_likelihood, kl) is None:
            return None  # the divergence averages samples of its own (K > 1, Rényi): so must the loss
        return self._loss(-log_likelihood, kl)

    def _loss(self, reconstruction, kl):
        return (reconstruction + kl.clamp(min=self.free_nats)).mean()

    def settings(self):
        return {"free_nats": self.free_nats}
