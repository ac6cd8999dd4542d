"""The logistic distribution, which torch.distributions lacks."""
import math

import torch
from torch.distributions import Distribution, constraints
from torch.distributions.utils import broadcast_all

from autovae.distributions.fast_softplus import softplus


class Logistic(Distribution):
    """Logistic(loc, scale): density exp(-u) / (scale (1 + exp(-u))^2) with u = (x - loc) / scale.

    Variance is pi^2 scale^2 / 3. Sampling inverts the CDF, so `rsample` is reparameterized.
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Logistic, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        super(Logistic, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (math.pi * self.scale) ** 2 / 3

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        tiny = torch.finfo(self.loc.dtype).tiny
        u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device).clamp(tiny, 1 - 1e-7)
        return self.loc + self.scale * (torch.log(u) - torch.log1p(-u))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        u = (value - self.loc) / self.scale
        # -u - 2 log(1 + e^-u), written with softplus so large |u| stays finite.
        return -u - 2 * softplus(-u) - self.scale.log()

    def cdf(self, value):
        return torch.sigmoid((value - self.loc) / self.scale)

    def icdf(self, value):
        return self.loc + self.scale * torch.logit(value)

    def entropy(self):
        return self.scale.log() + 2
