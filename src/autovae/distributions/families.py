"""Location-scale families as a registry: a posterior or prior belief is a name here.

A new family is one class decorated with ``@register_family("name")`` plus one YAML file in
``conf/posterior/`` (and ``conf/prior/`` if it may serve as a prior).
"""
from __future__ import annotations

import math

import torch
from torch import distributions as D

from autovae.distributions.logistic import Logistic
from autovae.errors import UnknownOptionError

FAMILIES: dict[str, type["Family"]] = {}



def register_family(name: str):
    def decorate(cls):
        cls.name = name
        FAMILIES[name] = cls
        return cls

    return decorate


def get_family(name: str) -> type["Family"]:
    if name not in FAMILIES:
        raise UnknownOptionError(f"unknown family {name!r}; valid families: {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


class Family:
    """A location-scale family Q(mu, sigma) with reparameterized sampling.

    ``prior_growth`` says how fast -log density grows in the tails when the family is a prior
    ("square", "abs", "log", "exp_neg" for Gumbel's e^-z); None means it cannot be a prior.
    ``finite_expectations`` maps each growth to the largest posterior scale (relative to the
    prior's) for which E_q[growth(z)] is finite; a growth absent from it makes KL infinite.
    """

    name: str = ""
    symbol: str = ""
    prior_growth: str | None = None
    finite_expectations: dict[str, float] = {"square": math.inf, "abs": math.inf, "log": math.inf, "exp_neg": math.inf}

    @staticmethod
    def build(loc: torch.Tensor, scale: torch.Tensor) -> D.Distribution:
        raise NotImplementedError


@register_family("normal")
class NormalFamily(Family):
    symbol = "N"
    prior_growth = "square"

    @staticmethod
    def build(loc, scale):
        return D.Normal(loc, scale, validate_args=False)


@register_family("laplace")
class LaplaceFamily(Family):
    symbol = "La"
    prior_growth = "abs"
    # E[e^{-z}] under Laplace(mu, sigma) is finite only for sigma < 1 (its MGF's radius).
    finite_expectations = {"square": math.inf, "abs": math.inf, "log": math.inf, "exp_neg": 1.0}

    @staticmethod
    def build(loc, scale):
        return D.Laplace(loc, scale, validate_args=False)


@register_family("logistic")
class LogisticFamily(Family):
    symbol = "Lo"
    prior_growth = "abs"
    # E[e^{-z}] = e^{-mu} pi sigma / sin(pi sigma): finite only for sigma < 1.
    finite_expectations = {"square": math.inf, "abs": math.inf, "log": math.inf, "exp_neg": 1.0}

    @staticmethod
    def build(loc, scale):
        return Logistic(loc, scale, validate_args=False)


class ClosedUniform(D.Uniform):
    """torch's Uniform with its density on the closed interval [low, high].

    ``low + u (high - low)`` with u < 1 can still round to ``high`` in float32; torch's half-open
    density then gives log q = -inf and log w = +inf, which makes a K-sample NLL infinite.
    Its KL closed forms apply unchanged (the registry dispatches on the subclass)."""

    def log_prob(self, value):
        inside = (value >= self.low) & (value <= self.high)
        return torch.where(inside, -torch.log(self.high - self.low), torch.full_like(value, -math.inf))


@register_family("uniform")
class UniformFamily(Family):
    """U(mu, sigma): uniform on [mu - sigma, mu + sigma]."""

    symbol = "U"

    @staticmethod
    def build(loc, scale):
        return ClosedUniform(loc - scale, loc + scale, validate_args=False)


@register_family("gumbel")
class GumbelFamily(Family):
    symbol = "G"
    prior_growth = "exp_neg"

    @staticmethod
    def build(loc, scale):
        return D.Gumbel(loc, scale, validate_args=False)


@register_family("exponential")
class ExponentialFamily(Family):
    """E(sigma): a scale family with mean sigma on [0, inf); the encoder's location is unused."""

    symbol = "E"

    @staticmethod
    def build(loc, scale):
        return D.Exponential(scale.reciprocal(), validate_args=False)


@register_family("cauchy")
class CauchyFamily(Family):
    symbol = "C"
    prior_growth = "log"
    finite_expectations = {"log": math.inf}

    @staticmethod
    def build(loc, scale):
        return D.Cauchy(loc, scale, validate_args=False)

