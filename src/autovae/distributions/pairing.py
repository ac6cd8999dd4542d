"""Posterior-prior pairings over the latent dimensions: uniform (one pair) or mixture (irregular)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from autovae.distributions.families import get_family
from autovae.distributions.fast_softplus import softplus
from autovae.distributions.product import BlockProduct
from autovae.errors import ConfigError


class InfiniteKLError(ConfigError):
    """The posterior-prior pair has an infinite KL divergence for every parameter value."""


class PairingError(ConfigError):
    """A pairing specification that cannot be built (fractions, dimensions)."""


MIN_SCALE = 1e-4
# Unbounded posterior scales from the encoder's raw output: softplus, or the log-variance
# parametrization sigma = exp(r / 2) that most VAE code (and pythae) uses.
SCALE_PARAMS = {"softplus": softplus, "log_variance": lambda r: torch.exp(0.5 * r)}


@dataclass(frozen=True)
class PairSpec:
    posterior: str
    prior: str
    fraction: float = 1.0
    prior_loc: float = 0.0
    prior_scale: float = 1.0

    @property
    def label(self) -> str:
        return f"{get_family(self.posterior).symbol}||{get_family(self.prior).symbol}"


@dataclass(frozen=True)
class PairGroup:
    spec: PairSpec
    start: int
    stop: int
    max_scale: float  # inf unless the KL is finite only below some posterior scale

    @property
    def width(self) -> int:
        return self.stop - self.start


def max_posterior_scale(spec: PairSpec) -> float:
    """Largest posterior scale with finite KL; raises InfiniteKLError when there is none."""
    posterior, prior = get_family(spec.posterior), get_family(spec.prior)
    if prior.prior_growth is None:
        raise PairingError(f"{spec.prior!r} cannot serve as a prior (its support is not the real line)")
    limit = posterior.finite_expectations.get(prior.prior_growth, 0.0)
    if limit <= 0:
        valid = [n for n in valid_priors_for(spec.posterior)]
        raise InfiniteKLError(
            f"KL({spec.posterior} || {spec.prior}) is infinite: the {spec.posterior} posterior's tails are "
            f"heavier than the {spec.prior} prior's. Priors with a finite KL for {spec.posterior}: {', '.join(valid)}"
        )
    return limit * spec.prior_scale


def valid_priors_for(posterior: str) -> list[str]:
    from autovae.distributions.families import FAMILIES

    q = get_family(posterior)
    return sorted(n for n, f in FAMILIES.items() if f.prior_growth and q.finite_expectations.get(f.prior_growth, 0) > 0)


def split_dimensions(fractions: Sequence[float], latent_dim: int) -> list[int]:
    """Largest-remainder rounding: the counts sum to latent_dim and follow the fractions."""
    total = sum(fractions)
    if any(f < 0 for f in fractions) or not math.isclose(total, 1.0, abs_tol=1e-6):
        raise PairingError(f"mixture fractions must be non-negative and sum to 1, got {list(fractions)} (sum {total:g})")
    raw = [f * latent_dim for f in fractions]
    counts = [math.floor(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)
    for i in by_remainder[: latent_dim - sum(counts)]:
        counts[i] += 1
    return counts


class Pairing(nn.Module):
    """Maps encoder outputs to a posterior over the latent dimensions, and supplies the prior."""

    def __init__(self, specs: Sequence[PairSpec], latent_dim: int, mc_samples: int = 1, scale_param: str = "softplus"):
        super().__init__()
        if scale_param not in SCALE_PARAMS:
            raise PairingError(f"unknown pairing.scale_param={scale_param!r}; valid: {', '.join(SCALE_PARAMS)}")
        self.latent_dim = latent_dim
        self.mc_samples = mc_samples
        self.scale_param = scale_param
        if latent_dim < 1:
            raise PairingError(f"model.net.latent_dim must be at least 1, got {latent_dim}")
        counts = split_dimensions([s.fraction for s in specs], latent_dim)
        empty = [f"{s.label} (fraction {s.fraction:g})" for s, c in zip(specs, counts) if c == 0]
        if empty:
            raise PairingError(
                f"mixture components {', '.join(empty)} get 0 of the {latent_dim} latent dimensions "
                f"(split {counts}): raise their fraction to at least {1 / latent_dim:.3g} or remove them")
        groups, start = [], 0
        for spec, count in zip(specs, counts):
            scale_limit = max_posterior_scale(spec)  # refuses impossible pairs up front
            groups.append(PairGroup(spec, start, start + count, scale_limit))
            start += count
        self.groups = groups
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # follows .to(device)

    @property
    def label(self) -> str:
        return " + ".join(f"{g.width}x{g.spec.label}" for g in self.groups)

    def describe(self) -> list[dict[str, Any]]:
        return [{"pair": g.spec.label, "posterior": g.spec.posterior, "prior": g.spec.prior,
                 "dims": g.width, "fraction": g.width / self.latent_dim} for g in self.groups]

    def scale(self, raw: torch.Tensor) -> torch.Tensor:
        """Positive scales from unconstrained encoder outputs, kept below any finite-KL limit."""
        parts = []
        for g in self.groups:
            r = raw[..., g.start:g.stop]
            if math.isinf(g.max_scale):
                parts.append(SCALE_PARAMS[self.scale_param](r) + MIN_SCALE)
            else:
                parts.append(MIN_SCALE + (0.999 * g.max_scale - MIN_SCALE) * torch.sigmoid(r))
        return torch.cat(parts, dim=-1)

    def posterior(self, loc: torch.Tensor, scale: torch.Tensor) -> BlockProduct:
        blocks = [get_family(g.spec.posterior).build(loc[..., g.start:g.stop], scale[..., g.start:g.stop])
                  for g in self.groups]
        return BlockProduct(blocks, mc_samples=self.mc_samples)

    def prior(self) -> BlockProduct:
        like = self._anchor
        blocks = []
        for g in self.groups:
            loc = torch.full((g.width,), g.spec.prior_loc, dtype=like.dtype, device=like.device)
            scale = torch.full((g.width,), g.spec.prior_scale, dtype=like.dtype, device=like.device)
            blocks.append(get_family(g.spec.prior).build(loc, scale))
        return BlockProduct(blocks)


def _spec(entry: Mapping[str, Any] | PairSpec) -> PairSpec:
    if isinstance(entry, PairSpec):
        return entry
    entry = dict(entry)
    unknown = set(entry) - {"posterior", "prior", "fraction", "prior_loc", "prior_scale"}
    if unknown:
        raise PairingError(f"unknown keys {sorted(unknown)} in pairing component {entry}; "
                           "valid keys: posterior, prior, fraction, prior_loc, prior_scale")
    get_family(entry["posterior"]), get_family(entry["prior"])  # unknown names list the valid ones
    return PairSpec(**entry)


def uniform_pairing(posterior: Mapping[str, Any], prior: Mapping[str, Any], latent_dim: int,
                    mc_samples: int = 1, scale_param: str = "softplus") -> Pairing:
    """One posterior-prior pair for every latent dimension (``pairing=uniform``)."""
    spec = PairSpec(posterior=posterior["name"], prior=prior["name"], fraction=1.0,
                    prior_loc=float(prior.get("loc", 0.0)), prior_scale=float(prior.get("scale", 1.0)))
    return Pairing([_spec(spec)], latent_dim, mc_samples, scale_param)


def mixture_pairing(components: Sequence[Mapping[str, Any]], latent_dim: int, mc_samples: int = 1,
                    scale_param: str = "softplus") -> Pairing:
    """Irregular pairing (``pairing=mixture``): components split the latent dimensions by fraction."""
    if not components:
        raise PairingError("pairing=mixture needs at least one component {posterior, prior, fraction}")
    return Pairing([_spec(c) for c in components], latent_dim, mc_samples, scale_param)
