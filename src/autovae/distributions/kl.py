"""Closed-form KL divergences that torch.distributions does not register.

torch already has 12 of the AutoVAE seed's 16 pairs (N||N, La||N, U||N, G||N, E||N, N||La, La||La,
C||C, N||G, U||G, G||G, E||G). This module registers the other four (Lo||N, Lo||La, E||La, U||C)
and a few more (U||La, La||G, Lo||G), each for a prior of any location m and scale s.

Location-scale pairs are computed after standardizing by the prior: KL is invariant when q and p
are both mapped by z -> (z - m) / s. Every formula is checked against numerical integration in
tests/distributions/test_kl.py.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Cauchy, Exponential, Gumbel, Laplace, Normal, Uniform, kl_divergence, register_kl

from autovae.distributions.logistic import Logistic


def _standardize(loc, scale, prior):
    return (loc - prior.loc) / prior.scale, scale / prior.scale


def _log_2cosh(x):
    a = x.abs()
    return a + torch.log1p(torch.exp(-2 * a))


@register_kl(Logistic, Normal)
def _kl_logistic_normal(q, p):
    mu, sigma = _standardize(q.loc, q.scale, p)
    # -H(q) + E_q[-log N(z; 0, 1)] with E z^2 = mu^2 + pi^2 sigma^2 / 3
    return 0.5 * mu ** 2 + math.pi ** 2 * sigma ** 2 / 6 - 2 - 0.5 * torch.log(sigma ** 2 / (2 * math.pi))


@register_kl(Logistic, Laplace)
def _kl_logistic_laplace(q, p):
    mu, sigma = _standardize(q.loc, q.scale, p)
    # E|z| = 2 sigma log(2 cosh(mu / (2 sigma))) for the logistic
    return 2 * sigma * _log_2cosh(mu / (2 * sigma)) - 2 - torch.log(sigma / 2)


@register_kl(Exponential, Laplace)
def _kl_exponential_laplace(q, p):
    sigma = q.rate.reciprocal()
    m, s = p.loc, p.scale
    # E|z - m| for z ~ Exp(mean sigma): sigma - m when m <= 0, else m - sigma + 2 sigma e^{-m/sigma}
    pos = m.clamp(min=0)
    mean_abs = torch.where(m <= 0, sigma - m, pos - sigma + 2 * sigma * torch.exp(-pos / sigma))
    return mean_abs / s + torch.log(2 * s) - 1 - torch.log(sigma)


def _uniform_loc_scale(q: Uniform):
    return (q.low + q.high) / 2, (q.high - q.low) / 2


@register_kl(Uniform, Cauchy)
def _kl_uniform_cauchy(q, p):
    mu, sigma = _standardize(*_uniform_loc_scale(q), p)
    b, a = mu + sigma, mu - sigma
    # E log(1 + z^2) over [a, b] from the antiderivative z log(1+z^2) - 2z + 2 atan z
    mean_log = (b * torch.log1p(b ** 2) - a * torch.log1p(a ** 2)) / (2 * sigma) - 2 + (torch.atan(b) - torch.atan(a)) / sigma
    return mean_log - torch.log(2 * sigma / math.pi)


@register_kl(Uniform, Laplace)
def _kl_uniform_laplace(q, p):
    mu, sigma = _standardize(*_uniform_loc_scale(q), p)
    a, b = mu - sigma, mu + sigma
    straddle = (a ** 2 + b ** 2) / (4 * sigma)
    mean_abs = torch.where(a >= 0, mu, torch.where(b <= 0, -mu, straddle))
    return mean_abs - torch.log(sigma)


def _finite_below_one(sigma, value):
    """The Gumbel prior's e^{-z} term has a finite mean only for standardized scales below 1."""
    return torch.where(sigma < 1, value, torch.full_like(value, math.inf))


@register_kl(Laplace, Gumbel)
def _kl_laplace_gumbel(q, p):
    mu, sigma = _standardize(q.loc, q.scale, p)
    s = sigma.clamp(max=1 - 1e-6)
    return _finite_below_one(sigma, mu + torch.exp(-mu) / (1 - s ** 2) - 1 - torch.log(2 * s))


@register_kl(Logistic, Gumbel)
def _kl_logistic_gumbel(q, p):
    mu, sigma = _standardize(q.loc, q.scale, p)
    s = sigma.clamp(max=1 - 1e-6)
    # E e^{-sigma L} for a standard logistic L is B(1 - sigma, 1 + sigma) = pi sigma / sin(pi sigma)
    return _finite_below_one(sigma, mu + torch.exp(-mu) * math.pi * s / torch.sin(math.pi * s) - torch.log(s) - 2)


def analytic_kl(q, p) -> torch.Tensor | None:
    """KL(q || p) in closed form from torch's registry (with the forms above), or None where none is
    registered: the one place that decides between the closed form and a Monte Carlo estimate."""
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        return None


def kl_or_estimate(q, p, z: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """KL(q || p) in closed form where registered, else its Monte Carlo estimate at the samples ``z``
    (S, B, k) with their log q(z) (S, B), averaged over the S samples."""
    kl = analytic_kl(q, p)
    return kl if kl is not None else (log_q - p.log_prob(z)).mean(0)
