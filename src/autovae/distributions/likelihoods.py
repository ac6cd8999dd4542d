"""Likelihood beliefs p(x | z): the seed's table, as proper log-densities over pixels.

A decoder emits ``params_per_pixel`` unconstrained values per pixel; each belief turns them into
its distribution's parameters. ``log_prob`` sums over pixels; ``reconstruction_loss`` is the
per-image loss in the units of the seed's tables: -log p less ``dropped_constant`` (summed MSE at the
normal's default variance 1/2, BCE, MAE at scale 1, or the NLL).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import distributions as D
from torch import nn

from autovae.distributions.fast_softplus import softplus


def _pixel_sum(t: torch.Tensor, event_dims: int) -> torch.Tensor:
    return t.flatten(-event_dims).sum(-1)


LIKELIHOODS: dict[str, type["Likelihood"]] = {}  # by class name, the name every run records


class Likelihood(nn.Module):
    params_per_pixel = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            LIKELIHOODS[cls.__name__] = cls

    @classmethod
    def from_description(cls, description: dict) -> "Likelihood":
        """The belief a run recorded with ``describe()``: ``{"name": ..., **settings}``."""
        name = description.get("name")
        if name not in LIKELIHOODS:
            raise KeyError(f"unknown likelihood {name!r}; known: {', '.join(sorted(LIKELIHOODS))}")
        return LIKELIHOODS[name](**{k: v for k, v in description.items() if k != "name"})

    def split(self, out: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Decoder output (..., P*C, H, W) -> P tensors of shape (..., C, H, W)."""
        return tuple(out.chunk(self.params_per_pixel, dim=-3)) if self.params_per_pixel > 1 else (out,)

    def pixel_log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x | z) per image; x is (..., C, H, W)."""
        return _pixel_sum(self.pixel_log_prob(x, out), 3)

    def reconstruction_loss(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return -self.log_prob(x, out)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """The image the decoder predicts (for pictures and for FID samples), in [0, 1]."""
        return torch.sigmoid(self.split(out)[0])

    def settings(self) -> dict[str, float]:
        """The belief's fixed constants (a variance, a scale, a clamp), recorded with every run."""
        return {}

    def dropped_constant(self, pixels: int) -> float:
        """What ``reconstruction_loss`` leaves out of -log p(x | z) per image: the seed's tables print
        the loss (summed MSE or MAE), so a bound in their units is ours plus this constant."""
        return 0.0

    def describe(self) -> dict:
        return {"name": type(self).__name__, **self.settings()}


class Bernoulli(Likelihood):
    """B(lambda) from logits; accepts grey levels in [0, 1] as soft targets (BCE)."""


    def pixel_log_prob(self, x, out):
        return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none")

    def log_prob(self, x, out):
        """sum_i x_i l_i - softplus(l_i): the same value as summing -BCE(l, x) per pixel, in one product
        and one softplus instead of BCE's five elementwise passes (the NLL's hot loop)."""
        logits = out.flatten(-3)
        return (logits * x.flatten(-3)).sum(-1) - softplus(logits).sum(-1)


class ContinuousBernoulli(Likelihood):
    """CB(lambda): BCE minus log C(lambda); torch's normalizer is a Taylor series near lambda=0.5."""

    def pixel_log_prob(self, x, out):
        return D.ContinuousBernoulli(logits=out, validate_args=False).log_prob(x.expand_as(out))

    def mean(self, out):
        return D.ContinuousBernoulli(logits=out, validate_args=False).mean


class FixedScaleNormal(Likelihood):
    """N(lambda, variance) with a fixed variance: -log p = (x - lambda)^2 / (2 variance) + const.

    The loss is the first term, so that loss + KL is the negative bound less the constant at every
    variance; the default variance 1/2 makes it the summed squared error (log(pi)/2 per pixel dropped).
    """


    def __init__(self, variance: float = 0.5):
        super().__init__()
        self.variance = variance

    def settings(self):
        return {"variance": float(self.variance)}

    def pixel_log_prob(self, x, out):
        mu = torch.sigmoid(out)
        return -(x - mu) ** 2 / (2 * self.variance) - 0.5 * math.log(2 * math.pi * self.variance)

    def reconstruction_loss(self, x, out):
        return _pixel_sum((x - torch.sigmoid(out)) ** 2, 3) / (2 * self.variance)

    def dropped_constant(self, pixels):
        return pixels * 0.5 * math.log(2 * math.pi * self.variance)


class FixedScaleLaplace(Likelihood):
    """La(lambda, scale) with a fixed scale: -log p = |x - lambda| / scale + log(2 scale)."""


    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def settings(self):
        return {"scale": float(self.scale)}

    def pixel_log_prob(self, x, out):
        return -(x - torch.sigmoid(out)).abs() / self.scale - math.log(2 * self.scale)

    def reconstruction_loss(self, x, out):
        return _pixel_sum((x - torch.sigmoid(out)).abs(), 3) / self.scale  # the summed MAE at scale 1

    def dropped_constant(self, pixels):
        return pixels * math.log(2 * self.scale)


class _LearnedScale(Likelihood):
    params_per_pixel = 2

    def __init__(self, min_scale: float = 1e-3):
        super().__init__()
        self.min_scale = min_scale

    def settings(self):
        return {"min_scale": float(self.min_scale)}

    def loc_scale(self, out):
        loc, raw = self.split(out)
        return torch.sigmoid(loc), softplus(raw) + self.min_scale


class Normal(_LearnedScale):
    """N(lambda, gamma^2) with a per-pixel standard deviation from the decoder."""

    def pixel_log_prob(self, x, out):
        loc, scale = self.loc_scale(out)
        return D.Normal(loc, scale, validate_args=False).log_prob(x)


class Laplace(_LearnedScale):
    """La(lambda, gamma) with a per-pixel scale from the decoder."""

    def pixel_log_prob(self, x, out):
        loc, scale = self.loc_scale(out)
        return D.Laplace(loc, scale, validate_args=False).log_prob(x)


class Beta(Likelihood):
    """Be(lambda, gamma); pixels are clamped into [eps, 1 - eps] since the density needs (0, 1).

    The clamp makes the bound depend on eps: black pixels (x=0) are scored at x=eps, where a Beta
    density with a < 1 is large, so bounds near +8000 nats on MNIST are a property of eps, not of
    the model. eps is recorded with every run; compare Beta runs only at the same eps.
    """

    params_per_pixel = 2

    def __init__(self, eps: float = 1e-3, min_concentration: float = 1e-3):
        super().__init__()
        self.eps = eps
        self.min_concentration = min_concentration

    def settings(self):
        return {"eps": float(self.eps), "min_concentration": float(self.min_concentration)}

    def concentrations(self, out):
        a, b = self.split(out)
        return softplus(a) + self.min_concentration, softplus(b) + self.min_concentration

    def pixel_log_prob(self, x, out):
        a, b = self.concentrations(out)
        return D.Beta(a, b, validate_args=False).log_prob(x.clamp(self.eps, 1 - self.eps))

    def mean(self, out):
        a, b = self.concentrations(out)
        return a / (a + b)
