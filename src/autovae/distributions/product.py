"""A latent distribution made of blocks of latent dimensions, each from its own family.

This is what makes irregular pairing possible: dimensions 0..9 may be logistic, 10..15 Laplace,
and so on. Its KL against another product is the sum of the blocks' KLs, registered with
torch's ``register_kl`` so that ``torch.distributions.kl_divergence`` works on it directly.
"""
from __future__ import annotations

import logging

import torch
from torch.distributions import Distribution, constraints, register_kl

from autovae.distributions.kl import analytic_kl

log = logging.getLogger(__name__)
_MC_WARNED: set[tuple[str, str]] = set()


class BlockProduct(Distribution):
    """Independent blocks concatenated along the last (event) dimension."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, blocks: list[Distribution], mc_samples: int = 1):
        self.blocks = blocks
        self.widths = [b.batch_shape[-1] for b in blocks]
        self.mc_samples = mc_samples  # used only for blocks whose KL has no closed form
        batch_shape = blocks[0].batch_shape[:-1]
        super().__init__(batch_shape, torch.Size([sum(self.widths)]), validate_args=False)

    def _split(self, value: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(value, self.widths, dim=-1))

    def rsample(self, sample_shape=torch.Size()):
        return torch.cat([b.rsample(sample_shape) for b in self.blocks], dim=-1)

    def sample(self, sample_shape=torch.Size()):
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value):
        parts = self._split(value)
        return sum(b.log_prob(v).sum(-1) for b, v in zip(self.blocks, parts))

    def entropy(self):
        return sum(b.entropy().sum(-1) for b in self.blocks)

    @property
    def mean(self):
        return torch.cat([_block_location(b) for b in self.blocks], dim=-1)


def _block_location(block: Distribution) -> torch.Tensor:
    """A central value of a block (its mean, or its median where the mean does not exist)."""
    if hasattr(block, "loc"):
        return block.loc
    return block.mean


def monte_carlo_kl(q: Distribution, p: Distribution, samples: int) -> torch.Tensor:
    """E_q[log q(z) - log p(z)] from reparameterized samples (unbiased, differentiable)."""
    z = q.rsample((samples,))
    return (q.log_prob(z) - p.log_prob(z)).mean(0)


def block_kl(q: Distribution, p: Distribution, samples: int) -> torch.Tensor:
    kl = analytic_kl(q, p)
    if kl is None:
        key = (type(q).__name__, type(p).__name__)
        if key not in _MC_WARNED:
            _MC_WARNED.add(key)
            log.warning("KL(%s || %s) has no closed form: using a %d-sample Monte Carlo estimate", *key, samples)
        kl = monte_carlo_kl(q, p, samples)
    return kl


@register_kl(BlockProduct, BlockProduct)
def _kl_block_product(q: BlockProduct, p: BlockProduct) -> torch.Tensor:
    if q.widths != p.widths:
        raise ValueError(f"block widths differ: {q.widths} vs {p.widths}")
    return sum(block_kl(qb, pb, q.mc_samples).sum(-1) for qb, pb in zip(q.blocks, p.blocks))
