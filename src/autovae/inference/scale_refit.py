"""A posterior scale fitted after training, for models whose scale no bound trains.

HEBAE's sigma_i and WAE's encoder scale are set by the reconstruction (and the MMD) alone: HEBAE's
falls to its floor within a few hundred steps, and every bound of that posterior is then set by the
floor, not by the model. Any posterior gives a lower bound on log p(x), so a better one may be chosen
after training: with the networks frozen, a multiplier s of the posterior's scale (one scalar, or one
per latent dimension) is fitted by maximising the ELBO on the validation split, and the test bounds
and NLL are those of the rescaled posterior. For a model trained by the ELBO, s stays near 1.

s multiplies each example's trained scale (``base: trained``), or replaces it (``base: shared``: every
example gets the scale s). HEBAE's sigma_i all sit at one floor, so the two coincide there; the
authors' HEBAE has no floor, and its per-example scales end spread over orders of magnitude, which a
multiplier keeps and a shared scale discards.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch

from autovae.distributions.kl import kl_or_estimate
from autovae.errors import UnknownOptionError
from autovae.inference.log_weights import full_precision, sample_with_log_prob

PER = ("none", "scalar", "dimension")
BASES = ("trained", "shared")


@dataclass(frozen=True)
class ScaleRefit:
    """``model.scale_refit`` (set by conf/model/hebae.yaml and wae.yaml): one multiplier (``scalar``) or one
    per latent dimension (``dimension``), fitted by Adam on log s over ``images`` validation images, of
    each example's trained scale (``base: trained``) or in place of it (``shared``)."""
    per: str = "dimension"
    base: str = "trained"
    steps: int = 500
    lr: float = 0.05
    batch_size: int = 500
    images: int = 10000
    # Also during training, every n epochs (0: never): fit on half the validation images, warm-started
    # from the last fit, and log the other half's ELBO as val/elbo_refit (the curve HEBAE's Fig. 1a draws).
    every_n_epochs: int = 0
    steps_per_check: int = 50

    def __post_init__(self):
        if self.per not in PER:
            raise UnknownOptionError(f"unknown model.scale_refit.per={self.per!r}; valid: {', '.join(PER)}")
        if self.base not in BASES:
            raise UnknownOptionError(f"unknown model.scale_refit.base={self.base!r}; valid: {', '.join(BASES)}")


def elbo(net, x: torch.Tensor) -> torch.Tensor:
    """Per-image one-sample ELBO (closed-form KL where registered), differentiable in the posterior."""
    q, p = net.posterior(x), net.prior()
    z, log_q = sample_with_log_prob(q, 1)
    ll = full_precision(net.likelihood.log_prob(x, net.decode(z)[0]))
    return ll - kl_or_estimate(q, p, z, log_q)


def _mean_elbo(net, images: torch.Tensor, batch_size: int, seed: int) -> float:
    torch.manual_seed(seed)
    with torch.no_grad():
        return float(torch.cat([elbo(net, x) for x in images.split(batch_size)]).mean())


@contextmanager
def frozen(net):
    """The networks in eval mode with no parameter gradients; the trained scale back on exit."""
    was_training, trainable = net.training, [p for p in net.parameters() if p.requires_grad]
    net.eval()
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)
        net.train(was_training)


def fit_multiplier(net, images: torch.Tensor, spec: ScaleRefit, steps: int, seed: int,
                   start: torch.Tensor | None = None) -> torch.Tensor:
    """The multiplier s (a scalar or one per latent dimension) maximising the ELBO on ``images``, by Adam
    on log s from ``start`` (else 1), with the networks frozen by the caller."""
    shape = () if spec.per == "scalar" else (net.latent_dim,)
    log_s = torch.zeros(shape, device=images.device) if start is None else start.detach().log().reshape(shape).clone()
    log_s.requires_grad_(True)
    optimizer = torch.optim.Adam([log_s], lr=spec.lr)
    net.posterior_scale_base = spec.base
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(images), (min(spec.batch_size, len(images)),), generator=generator)
        net.posterior_scale = log_s.exp()
        loss = -elbo(net, images[idx.to(images.device)]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    net.posterior_scale = None
    return log_s.detach().exp()


def refit_posterior_scale(net, images: torch.Tensor, spec: ScaleRefit, seed: int = 0,
                          split: str = "val") -> dict[str, Any] | None:
    """Fits ``net.posterior_scale`` on ``images`` (``split``'s) and returns the record for metrics.json's
    ``ran`` block; None (nothing changed) where ``per`` is none. Where the fit does not beat the trained
    scale on those images, the trained scale is kept and the record says so."""
    if spec.per == "none":
        return None
    images = images[: spec.images]
    with frozen(net):
        net.posterior_scale = None
        before = _mean_elbo(net, images, spec.batch_size, seed)
        multiplier = fit_multiplier(net, images, spec, spec.steps, seed)
        net.posterior_scale = multiplier
        after = _mean_elbo(net, images, spec.batch_size, seed)
        if not after > before:
            net.posterior_scale, net.posterior_scale_base = None, "trained"
    applied = net.posterior_scale is not None
    return {**asdict(spec), "images": len(images), "objective": "elbo", "split": split,
            "multiplier": [round(float(v), 6) for v in multiplier.reshape(-1)], "applied": applied,
            "val_elbo_trained_scale": before, "val_elbo_refit": after if applied else before}


def held_out_elbo(net, images: torch.Tensor, spec: ScaleRefit, seed: int,
                  start: torch.Tensor | None) -> tuple[float, torch.Tensor]:
    """During training: the multiplier fitted on the first half of ``images`` (warm-started from
    ``start``), and the second half's mean ELBO under it. The model is left as it was."""
    half = len(images) // 2
    with frozen(net):
        multiplier = fit_multiplier(net, images[:half], spec, spec.steps if start is None else spec.steps_per_check,
                                    seed, start)
        net.posterior_scale = multiplier
        try:
            value = _mean_elbo(net, images[half:], spec.batch_size, seed)
        finally:
            net.posterior_scale = None
    return value, multiplier


def apply_recorded_refit(net, ran: dict[str, Any] | None) -> None:
    """Puts a run's recorded multiplier back on a rebuilt model (``load_model``)."""
    record = (ran or {}).get("posterior_scale_refit")
    if not record or not record.get("applied"):
        return
    values = torch.tensor(record["multiplier"])
    device = next(net.parameters()).device
    net.posterior_scale = (values[0] if record["per"] == "scalar" else values).to(device)
    net.posterior_scale_base = record.get("base", "trained")
