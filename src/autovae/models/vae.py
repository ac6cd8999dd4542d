"""The VAE LightningModule: encoder -> pairing (posterior, prior) -> decoder -> likelihood.

Subclasses (HEBAE, planar flows, WAE) replace ``posterior`` or ``objective`` and keep the rest:
data, likelihoods, evaluation and logging are shared.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from autovae.divergences import KL, Divergence, Objective
from autovae.evaluation.bounds import BoundSpec, estimate_bound
from autovae.likelihoods import Likelihood
from autovae.pairing import Pairing


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class VAE(L.LightningModule):

    def __init__(self, architecture: Callable[..., tuple[nn.Module, nn.Module]], pairing: Pairing,
                 likelihood: Likelihood, divergence: Divergence, image_shape: Sequence[int], latent_dim: int,
                 optimizer: Callable[..., torch.optim.Optimizer], scheduler: Callable | None = None,
                 test_bounds: Sequence[dict] = ({"alpha": 1.0, "samples": 1}, {"alpha": 0.0, "samples": 50}),
                 nll_samples: int = 0, eval_chunk: int = 500, nan_check_every: int = 10):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_dim = latent_dim
        self.pairing = pairing
        self.likelihood = likelihood
        self.divergence = divergence
        self.encoder, self.decoder = architecture(
            image_shape=self.image_shape, latent_dim=latent_dim, params_per_pixel=likelihood.params_per_pixel,
            encoder_outputs=self.encoder_output_size())
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.test_bounds = [BoundSpec(**b) for b in test_bounds]
        if nll_samples:
            self.test_bounds.append(BoundSpec(alpha=0.0, samples=nll_samples, name="nll"))
        self.eval_chunk = eval_chunk
        self.nan_check_every = nan_check_every
        self.elbo = KL(beta=1.0, samples=1)  # the reported L_{1,1}, whatever the training divergence
        self.val_metrics = nn.ModuleDict({k: MeanMetric() for k in ("loss", "elbo", "kl", "recon")})
        self.test_metrics = nn.ModuleDict({b.key: MeanMetric() for b in self.test_bounds}
                                          | {"recon": MeanMetric(), "kl": MeanMetric()})
        self._nonfinite = None

    # -- the generative pieces -------------------------------------------------------------
    def encoder_output_size(self) -> int:
        return 2 * self.latent_dim  # a location and a scale per latent dimension

    def posterior(self, x: torch.Tensor):
        h = self.encoder(x)
        loc, raw_scale = h.chunk(2, dim=-1)
        return self.pairing.posterior(loc, self.pairing.scale(raw_scale))

    def prior(self):
        return self.pairing.prior()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def log_likelihood_fn(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda z: self.likelihood.log_prob(x, self.decode(z))

    def objective(self, x: torch.Tensor, divergence: Divergence | None = None) -> Objective:
        div = divergence or self.divergence
        return div(self.posterior(x), self.prior(), self.log_likelihood_fn(x))

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        z = self.prior().sample((n,))
        return self.likelihood.mean(self.decode(z))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.likelihood.mean(self.decode(self.posterior(x).mean))

    # -- Lightning hooks -------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._base_seed = torch.initial_seed()  # set by seed_everything before fit

    def on_train_epoch_start(self) -> None:
        # Sampling noise as a function of (seed, epoch): a resumed run repeats an uninterrupted one.
        torch.manual_seed(self._base_seed * 1_000_003 + self.current_epoch)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        obj = self.objective(batch)
        self._guard_finite(obj.loss, batch_idx)
        self.log("train/loss", obj.loss, prog_bar=True)
        self.log("train/kl", obj.kl.mean())
        return obj.loss

    def _guard_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stops a diverged run; checks every few steps to avoid a host sync on each step."""
        bad = ~torch.isfinite(loss.detach())
        self._nonfinite = bad if self._nonfinite is None else (self._nonfinite | bad)
        if batch_idx % self.nan_check_every == 0 and bool(self._nonfinite):
            raise DivergedError(f"training loss is not finite (epoch {self.current_epoch}, step {self.global_step})")

    def _evaluate(self, batch: torch.Tensor):
        """One encoding of the batch serves the objective, the ELBO and the reconstruction loss."""
        q, p, ll = self.posterior(batch), self.prior(), self.log_likelihood_fn(batch)
        elbo = self.elbo(q, p, ll)
        recon = self.likelihood.reconstruction_loss(batch, self.decode(q.mean))
        return q, p, ll, elbo, recon

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        q, p, ll, elbo, recon = self._evaluate(batch)
        loss = elbo.loss if self.divergence is self.elbo else self.divergence(q, p, ll).loss
        for key, value in (("loss", loss), ("elbo", elbo.bound), ("kl", elbo.kl), ("recon", recon)):
            self.val_metrics[key].update(value)

    def on_validation_epoch_end(self) -> None:
        for key, metric in self.val_metrics.items():
            self.log(f"val/{key}", metric.compute(), prog_bar=key in ("loss", "elbo"))
            metric.reset()

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        for spec in self.test_bounds:
            self.test_metrics[spec.key].update(estimate_bound(self, batch, spec, self.eval_chunk))
        _, _, _, elbo, recon = self._evaluate(batch)
        self.test_metrics["kl"].update(elbo.kl)
        self.test_metrics["recon"].update(recon)

    def on_test_epoch_end(self) -> None:
        for key, metric in self.test_metrics.items():
            self.log(f"test/{key}", metric.compute())
            metric.reset()

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer=optimizer)}
