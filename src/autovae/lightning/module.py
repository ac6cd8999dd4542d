"""The one LightningModule of autovae: it drives any generative model (``net``: VAE, HEBAE, planar
flows, WAE, beta-VAE) with one training loop, one NaN guard, one set of metrics and one evaluation.

The model holds the math (``models/vae.py`` and its subclasses); the divergence says what is
trained; this module says how: optimizer, reseeding per epoch, validation and test metrics, the
importance-sampled bounds and the NLL.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from autovae.distributions.kl import kl_or_estimate
from autovae.errors import ConfigError
from autovae.inference import metric_names as m
from autovae.inference.bounds import BoundSpec, estimate_bounds
from autovae.inference.log_weights import full_precision, sample_with_log_prob
from autovae.inference.objectives import Divergence
from autovae.inference.scale_refit import ScaleRefit, held_out_elbo, refit_posterior_scale
from autovae.lightning.progress import track
from autovae.models.vae import VAE
from autovae.seeds import derived_seed

log = logging.getLogger(__name__)


class DivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class Evaluation:
    posterior: Any
    prior: Any
    elbo: torch.Tensor  # (B,) log p(x|z) - KL, one posterior sample per image
    kl: torch.Tensor  # (B,) closed form where registered, else Monte Carlo at the same sample
    recon_expected: torch.Tensor  # (B,) reconstruction loss at that sample (E_q, seed units)
    recon_at_mean: torch.Tensor  # (B,) reconstruction loss at the posterior mean


def evaluate_once(net: VAE, batch: torch.Tensor) -> Evaluation:
    """One encoding and one posterior sample per image serve the ELBO, the KL and both
    reconstruction losses, so that recon_expected + kl = -elbo exactly."""
    q, p = net.posterior(batch), net.prior()
    z, log_q = sample_with_log_prob(q, 1)
    out = net.decode(z)[0]
    ll = full_precision(net.likelihood.log_prob(batch, out))
    kl = kl_or_estimate(q, p, z, log_q)
    return Evaluation(q, p, ll - kl, kl, net.likelihood.reconstruction_loss(batch, out),
                      net.likelihood.reconstruction_loss(batch, net.decode(q.mean)))


def _means(*keys: str) -> nn.ModuleDict:
    # NaN values are kept, not dropped: a NaN bound must show as NaN, never as an optimistic mean.
    return nn.ModuleDict({k: MeanMetric(nan_strategy="disable") for k in keys})


class AutoVAEModule(L.LightningModule):

    def __init__(self, net: VAE, divergence: Divergence, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable | None = None,
                 test_bounds: Sequence[dict] = ({"alpha": 1.0, "samples": 1}, {"alpha": 0.0, "samples": 50}),
                 nll_samples: int = 0, rows_per_pass: int = 1000, nan_check_every: int = 10,
                 nll_images: int | None = None, scale_refit: dict | None = None,
                 fresh_optimizer_each_epoch: bool = False):
        super().__init__()
        if nll_samples < 0 or rows_per_pass < 1:
            raise ValueError(f"evaluation.nll_samples must be >= 0 and evaluation.rows_per_pass >= 1, "
                             f"got {nll_samples} and {rows_per_pass}")
        self.net, self.divergence = net, divergence
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.test_bounds = [BoundSpec(**b) for b in test_bounds]
        # The NLL estimate -L_{0,K}: positive, in nats, over the first nll_images test images.
        self.nll_spec = BoundSpec(alpha=0.0, samples=nll_samples, name=m.NLL) if nll_samples else None
        self.nll_images, self.rows_per_pass, self.nan_check_every = nll_images, rows_per_pass, nan_check_every
        self.val_metrics = _means(m.LOSS, m.ELBO, m.KL, m.RECON_AT_MEAN)
        self.test_metrics = _means(*(b.key for b in self.test_bounds), m.ELBO, m.KL, m.RECON_AT_MEAN,
                                   m.RECON_EXPECTED, *([m.NLL] if self.nll_spec else []))
        # The posterior's scale refitted after training (inference/scale_refit.py) where no bound trains
        # it: the test figures use the refit, and these keep the trained scale's, named as such.
        self.scale_refit = ScaleRefit(**scale_refit) if scale_refit else None
        self.trained_scale_metrics = _means(*(b.key for b in self.test_bounds), m.ELBO)
        # The authors' HEBAE builds a new Adam every epoch (its moments and step count start again).
        self.fresh_optimizer_each_epoch = fresh_optimizer_each_epoch
        self._nonfinite = None
        self._short_batches_logged: set[str] = set()
        self._test_seen = 0
        self.eval_split = m.TEST  # m.VAL when the search evaluates its selection metrics

    # -- training --------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        self._base_seed = torch.initial_seed()  # set by seed_everything before fit

    def on_train_epoch_start(self) -> None:
        # Sampling noise as a function of (seed, epoch): a resumed run repeats an uninterrupted one.
        torch.manual_seed(self._derived_seed(self.current_epoch))
        if self.fresh_optimizer_each_epoch:
            for optimizer in self.trainer.optimizers:
                optimizer.state.clear()  # torch's optimizers build their state again at the next step

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor | None:
        if self._skip_short_remainder(batch, batch_idx):
            return None  # Lightning skips this step (backward and update)
        with self.net.densities_in_fp32():
            obj = self.net.objective(batch, self.divergence)
        self._guard_finite(obj.loss, batch_idx)
        if self._step_metrics_are_read(batch_idx):
            self.log("train/loss", obj.loss, prog_bar=True)
            self.log("train/kl", obj.kl.mean())
            for name, value in obj.penalties.items():
                self.log(f"train/{name}", value)
        return obj.loss

    def _step_metrics_are_read(self, batch_idx: int) -> bool:
        """Whether anything reads this step's train/ metrics: the loggers write this step, the progress
        bar refreshes, or the epoch ends (the run's final train/loss). Lightning's bookkeeping of each
        ``self.log`` call (it moves the stored metric to the value's device every time) is a visible part of
        a small CPU step, so the other steps skip it; where Lightning's logging schedule cannot be read,
        every step logs."""
        trainer = self._trainer
        connector = getattr(trainer, "_logger_connector", None)
        if connector is None or not hasattr(type(connector), "should_update_logs"):
            return True
        if connector.should_update_logs or batch_idx + 1 >= trainer.num_training_batches:
            return True
        bar = trainer.progress_bar_callback
        if bar is None or not bar.is_enabled:
            return False
        rate = getattr(bar, "refresh_rate", 1)
        return rate <= 1 or (batch_idx + 1) % rate == 0

    def _skip_short_remainder(self, batch: torch.Tensor, batch_idx: int) -> bool:
        """True for a last training batch too short for the objective; a short batch that is not the
        data's remainder means every batch is too short, which is refused."""
        if not self._too_short(batch, "training"):
            return False
        if batch_idx + 1 < self.trainer.num_training_batches:
            raise ConfigError(f"{type(self.net).__name__}'s objective needs batches of at least "
                              f"{self.net.smallest_batch()} images, and dataset.batch_size gives {batch.shape[0]}: "
                              "raise dataset.batch_size (or, for HEBAE, lower model.net.latent_dim)")
        self._raise_if_diverged()  # the epoch's last batch, where the NaN check is due
        return True

    def _too_short(self, batch: torch.Tensor, phase: str) -> bool:
        """A last batch smaller than the model's objective needs (the data's size modulo the batch size)."""
        need = self.net.smallest_batch()
        if batch.shape[0] >= need:
            return False
        if phase not in self._short_batches_logged:
            self._short_batches_logged.add(phase)
            log.info("%s: a batch of %d images is shorter than the %d that %s's objective needs: its %s is skipped",
                     phase, batch.shape[0], need, type(self.net).__name__,
                     "step" if phase == "training" else "loss")
        return True

    def _guard_finite(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Stops a diverged run; checks every few steps to avoid a host sync on each step."""
        bad = ~torch.isfinite(loss.detach())
        self._nonfinite = bad if self._nonfinite is None else (self._nonfinite | bad)
        last = batch_idx + 1 >= self.trainer.num_training_batches if self._trainer is not None else True
        if batch_idx % self.nan_check_every == 0 or last:
            self._raise_if_diverged()

    def _raise_if_diverged(self) -> None:
        if self._nonfinite is not None and bool(self._nonfinite):
            raise DivergedError(f"training loss is not finite (epoch {self.current_epoch}, step {self.global_step})")

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters(), **self._unfused_when_clipping())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer=optimizer)}

    def _unfused_when_clipping(self) -> dict[str, Any]:
        """Lightning's mixed-precision plugin refuses gradient clipping with a fused optimizer (it assumes
        the optimizer unscales fp16 gradients itself), so a clipped run uses the per-tensor update."""
        clipping = self._trainer is not None and self.trainer.gradient_clip_val
        if clipping and getattr(self.optimizer_factory, "keywords", {}).get("fused"):
            log.info("gradient clipping: the optimizer runs unfused (Lightning clips only unfused optimizers)")
            return {"fused": False}
        return {}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Checkpoints written before the model moved into ``net`` keep loading (resume, restore)."""
        checkpoint["state_dict"] = upgrade_state_dict(checkpoint["state_dict"], self.state_dict())

    # -- validation ------------------------------------------------------------------------
    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        with self.net.densities_in_fp32():
            ev = evaluate_once(self.net, batch)
            # val/loss is what training minimises (HEBAE's, WAE's or free bits' own loss included), on
            # held-out images: from the ELBO's sample where one sample is enough, else the model's own
            loss = self.net.loss_at_one_sample(self.divergence, ev.elbo + ev.kl, ev.kl)
            if loss is None and not self._too_short(batch, "validation"):
                loss = self.net.objective(batch, self.divergence).loss  # samples or statistics of its own
        for key, value in ((m.LOSS, loss), (m.ELBO, ev.elbo), (m.KL, ev.kl), (m.RECON_AT_MEAN, ev.recon_at_mean)):
            if value is not None:
                self.val_metrics[key].update(value)

    def on_validation_epoch_end(self) -> None:
        self._log_means(self.val_metrics, m.VAL, prog_bar=(m.LOSS, m.ELBO))
        self._log_refit_elbo()

    def _log_refit_elbo(self) -> None:
        """val/elbo_refit every ``scale_refit.every_n_epochs``: the bound of a model whose scale no bound
        trains, with the scale refitted on half the validation images and judged on the other half."""
        spec = self.scale_refit
        if spec is None or spec.per == "none" or not spec.every_n_epochs or self.trainer.sanity_checking:
            return
        if (self.current_epoch + 1) % spec.every_n_epochs:
            return
        images = self.trainer.datamodule.val_data[: spec.images]
        with torch.inference_mode(False), torch.enable_grad(), self.net.densities_in_fp32():
            value, self._refit_start = held_out_elbo(self.net, images, spec, self._seed_for("scale_refit"),
                                                     getattr(self, "_refit_start", None))
        self.log(m.val(m.ELBO_REFIT), value)

    # -- test: bounds, NLL, reconstruction -------------------------------------------------
    def on_test_epoch_start(self) -> None:
        # Test-time noise as a function of the seed alone: a re-run test gives the same figures.
        torch.manual_seed(self._seed_for("test"))
        self._test_seen = 0

    def _seed_for(self, phase: str) -> int:
        base = getattr(self, "_base_seed", None)
        base = torch.initial_seed() if base is None else base
        return self._derived_seed(sum(map(ord, phase)), base)

    def _derived_seed(self, offset: int, base: int | None = None) -> int:
        return derived_seed(self._base_seed if base is None else base, offset)

    def test_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        with self.net.densities_in_fp32():
            ev = evaluate_once(self.net, batch)
            bounds = estimate_bounds(self.net, batch, self.test_bounds, self._chunk(batch), posterior=ev.posterior)
            for key, value in bounds.items():
                self.test_metrics[key].update(value)
            for key, value in ((m.ELBO, ev.elbo), (m.KL, ev.kl), (m.RECON_AT_MEAN, ev.recon_at_mean),
                               (m.RECON_EXPECTED, ev.recon_expected)):
                self.test_metrics[key].update(value)
            self._update_nll(batch)
            if self.net.posterior_scale is not None:
                self._update_at_trained_scale(batch)
        self._test_seen += batch.shape[0]

    def _update_at_trained_scale(self, batch: torch.Tensor) -> None:
        refit, self.net.posterior_scale = self.net.posterior_scale, None
        try:
            ev = evaluate_once(self.net, batch)
            bounds = estimate_bounds(self.net, batch, self.test_bounds, self._chunk(batch), posterior=ev.posterior)
        finally:
            self.net.posterior_scale = refit
        for key, value in (*bounds.items(), (m.ELBO, ev.elbo)):
            self.trained_scale_metrics[key].update(value)

    def refit_posterior_scale(self, images: torch.Tensor, split: str) -> dict[str, Any] | None:
        """Fits the posterior's scale multiplier on ``split``'s images where ``scale_refit`` asks for it."""
        if self.scale_refit is None:
            return None
        with self.net.densities_in_fp32():
            return refit_posterior_scale(self.net, images, self.scale_refit, seed=self._seed_for("scale_refit"),
                                         split=split)

    def _chunk(self, x: torch.Tensor) -> int:
        """Importance samples per decoder pass: about rows_per_pass decoder rows, which keep the
        activations in cache (measured fastest on a 2-core EPYC; see docs/performance.md)."""
        return max(1, self.rows_per_pass // max(1, x.shape[0]))

    def _update_nll(self, batch: torch.Tensor) -> None:
        """-L_{0,K} on the first ``nll_images`` test images (all when None)."""
        if self.nll_spec is None:
            return
        room = batch.shape[0] if self.nll_images is None else max(0, self.nll_images - self._test_seen)
        if room:
            x = batch[:room]
            first = self._test_seen
            description = f"NLL (K={self.nll_spec.samples}), images {first + 1}-{first + room}"
            with track(description, self.nll_spec.samples, trainer=self._trainer, unit="samples") as task:
                nll = -estimate_bounds(self.net, x, [self.nll_spec], self._chunk(x), progress=task.advance)[m.NLL]
            self.test_metrics[m.NLL].update(nll)

    def on_test_epoch_end(self) -> None:
        self._log_means(self.test_metrics, self.eval_split)
        self._log_means(self.trained_scale_metrics, f"{self.eval_split}/{m.TRAINED_SCALE}")

    def _log_means(self, metrics: nn.ModuleDict, prefix: str, prog_bar: Sequence[str] = ()) -> None:
        for key, metric in metrics.items():
            if metric.update_count:  # the NLL of a DDP rank that saw none of the first nll_images
                self.log(f"{prefix}/{key}", metric.compute(), prog_bar=key in prog_bar)
            metric.reset()

    # -- what ran ---------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """metrics.json's ``ran`` block: the model's own record plus the objective that trained it."""
        return {**self.net.describe(), "objective": self.divergence.describe()}


def upgrade_state_dict(state: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """Prefixes a pre-``net`` state dict's model keys with ``net.`` where that is what is expected."""
    if any(k.startswith("net.") for k in state) or not any(k.startswith("net.") for k in expected):
        return state
    return {(f"net.{k}" if f"net.{k}" in expected else k): v for k, v in state.items()}
