import math

import pytest
import torch
from torch import distributions as D

from autovae.distributions import likelihoods as lk
from autovae.distributions.likelihoods import LIKELIHOODS, Likelihood

torch.manual_seed(0)
X = torch.rand(4, 1, 5, 5, dtype=torch.float64)
OUT1 = torch.randn(4, 1, 5, 5, dtype=torch.float64) * 2
OUT2 = torch.randn(4, 2, 5, 5, dtype=torch.float64)


def per_image(t):
    return t.flatten(1).sum(-1)


def test_bernoulli_is_bce_and_matches_torch_on_binary_pixels():
    xb = (X > 0.5).double()
    ref = per_image(D.Bernoulli(logits=OUT1).log_prob(xb))
    assert torch.allclose(lk.Bernoulli().log_prob(xb, OUT1), ref)
    lam = torch.sigmoid(OUT1)
    bce = -(X * lam.log() + (1 - X) * (1 - lam).log())
    assert torch.allclose(lk.Bernoulli().reconstruction_loss(X, OUT1), per_image(bce))


def test_continuous_bernoulli_normalizer():
    lam = torch.sigmoid(OUT1)
    log_c = torch.log(2 * torch.atanh(1 - 2 * lam) / (1 - 2 * lam))
    ref = per_image(X * lam.log() + (1 - X) * (1 - lam).log() + log_c)
    assert torch.allclose(lk.ContinuousBernoulli().log_prob(X, OUT1), ref, rtol=1e-6)


def test_continuous_bernoulli_stable_near_half():
    for eps in (1e-2, 1e-4, 1e-7, 0.0):
        logits = torch.full((1, 1, 1, 1), eps, dtype=torch.float64)
        val = lk.ContinuousBernoulli().log_prob(torch.full_like(logits, 0.3), logits)
        # at lambda = 1/2 the density is uniform on [0, 1]: log p -> 0
        assert torch.isfinite(val).all() and abs(val.item()) < 1e-2 + 10 * eps


def test_fixed_normal_is_mse_plus_constant():
    like = lk.FixedScaleNormal(variance=0.5)
    mse = per_image((X - torch.sigmoid(OUT1)) ** 2)
    assert torch.allclose(like.reconstruction_loss(X, OUT1), mse)
    assert torch.allclose(-like.log_prob(X, OUT1), mse + 25 * 0.5 * math.log(math.pi))
    ref = per_image(D.Normal(torch.sigmoid(OUT1), math.sqrt(0.5)).log_prob(X))
    assert torch.allclose(like.log_prob(X, OUT1), ref)


def test_fixed_laplace_is_mae_plus_constant():
    like = lk.FixedScaleLaplace(scale=1.0)
    mae = per_image((X - torch.sigmoid(OUT1)).abs())
    assert torch.allclose(like.reconstruction_loss(X, OUT1), mae)
    assert torch.allclose(like.log_prob(X, OUT1), per_image(D.Laplace(torch.sigmoid(OUT1), 1.0).log_prob(X)))


@pytest.mark.parametrize("cls,dist", [(lk.Normal, D.Normal), (lk.Laplace, D.Laplace)])
def test_learned_scale_matches_formula(cls, dist):
    like = cls(min_scale=1e-3)
    loc, raw = OUT2[:, :1], OUT2[:, 1:]
    lam, gamma = torch.sigmoid(loc), torch.nn.functional.softplus(raw) + 1e-3
    if dist is D.Normal:
        nll = (X - lam) ** 2 / (2 * gamma ** 2) + 0.5 * torch.log(2 * math.pi * gamma ** 2)
    else:
        nll = (X - lam).abs() / gamma + torch.log(2 * gamma)
    assert torch.allclose(like.log_prob(X, OUT2), -per_image(nll))


def test_beta_matches_slide_formula():
    like = lk.Beta(eps=1e-3)
    a, b = like.concentrations(OUT2)
    x = X.clamp(1e-3, 1 - 1e-3)
    # the seed's table: NLL = (1-a) log x + (1-b) log(1-x) + lgamma a + lgamma b - lgamma(a+b)
    nll = (1 - a) * x.log() + (1 - b) * (1 - x).log() + torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    assert torch.allclose(like.log_prob(X, OUT2), -per_image(nll))


def test_bernoulli_log_prob_of_a_float32_image_batch_is_within_a_millinat_of_float64():
    """The NLL's hot loop sums 784 float32 terms per sample: it must not drift from the exact value."""
    x = torch.rand(64, 1, 28, 28)
    logits = torch.randn(64, 1, 28, 28) * 6
    exact = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits.double(), x.double(), reduction="none").flatten(1).sum(-1)
    assert (lk.Bernoulli().log_prob(x, logits).double() - exact).abs().max() < 1e-3


@pytest.mark.parametrize("name,settings", [(name, {}) for name in sorted(LIKELIHOODS)]
                         + [("FixedScaleNormal", {"variance": 1.0}), ("FixedScaleLaplace", {"scale": 2.0})])
def test_the_reported_loss_is_the_negative_log_likelihood_less_the_dropped_constant(name, settings):
    """The seed's tables print the loss; make table adds dropped_constant to our bound to reach their
    units, so at every setting it must be exactly what the loss leaves out of -log p (table (a) trains
    the unit variance: its loss row and bound must be in the same units)."""
    lik = Likelihood.from_description({"name": name, **settings})
    assert Likelihood.from_description(lik.describe()).describe() == lik.describe()
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 4, 5, generator=g)
    out = torch.randn(3, lik.params_per_pixel, 4, 5, generator=g)
    gap = -lik.log_prob(x, out) - lik.reconstruction_loss(x, out)
    assert torch.allclose(gap, torch.full((3,), lik.dropped_constant(20)), atol=1e-4)
