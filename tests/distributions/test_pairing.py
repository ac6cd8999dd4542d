import pytest
import torch
from torch.distributions import kl_divergence

from autovae.distributions import Logistic, UnknownOptionError
from autovae.distributions.pairing import (
    InfiniteKLError,
    PairingError,
    mixture_pairing,
    split_dimensions,
    uniform_pairing,
)

SEED_MIX = [{"posterior": "logistic", "prior": "normal", "fraction": 0.5},
            {"posterior": "laplace", "prior": "normal", "fraction": 0.3},
            {"posterior": "laplace", "prior": "laplace", "fraction": 0.2}]


def test_mixture_gives_each_dimension_its_family():
    pairing = mixture_pairing(SEED_MIX, latent_dim=20)
    q = pairing.posterior(torch.zeros(4, 20), torch.ones(4, 20))
    assert [type(b).__name__ for b in q.blocks] == ["Logistic", "Laplace", "Laplace"]
    assert q.widths == [10, 6, 4]
    assert [type(b).__name__ for b in pairing.prior().blocks] == ["Normal", "Normal", "Laplace"]
    assert pairing.label == "10xLo||N + 6xLa||N + 4xLa||La"


def test_mixture_kl_is_the_sum_over_dimensions():
    pairing = mixture_pairing(SEED_MIX, latent_dim=20)
    torch.manual_seed(0)
    loc, scale = torch.randn(3, 20), torch.rand(3, 20) + 0.2
    total = kl_divergence(pairing.posterior(loc, scale), pairing.prior())
    by_dim = []
    for d in range(20):
        fam = "logistic" if d < 10 else "laplace"
        prior = "normal" if d < 16 else "laplace"
        single = uniform_pairing({"name": fam}, {"name": prior}, latent_dim=1)
        by_dim.append(kl_divergence(single.posterior(loc[:, d:d + 1], scale[:, d:d + 1]), single.prior()))
    assert torch.allclose(total, torch.stack(by_dim, -1).sum(-1), rtol=1e-5)
    z = pairing.posterior(loc, scale).rsample()
    manual = Logistic(loc[:, :10], scale[:, :10]).log_prob(z[:, :10]).sum(-1)
    manual += torch.distributions.Laplace(loc[:, 10:], scale[:, 10:]).log_prob(z[:, 10:]).sum(-1)
    assert torch.allclose(pairing.posterior(loc, scale).log_prob(z), manual, rtol=1e-5)


def test_fractions_must_sum_to_one():
    bad = [dict(c) for c in SEED_MIX]
    bad[0]["fraction"] = 0.6
    with pytest.raises(PairingError, match="sum to 1"):
        mixture_pairing(bad, latent_dim=20)


def test_split_dimensions_rounds_to_the_total():
    assert split_dimensions([1 / 3, 1 / 3, 1 / 3], 20) == [7, 7, 6]
    assert sum(split_dimensions([0.5, 0.3, 0.2], 7)) == 7


@pytest.mark.parametrize("prior", ["normal", "laplace", "logistic", "gumbel"])
def test_cauchy_posterior_with_light_tailed_prior_is_refused(prior):
    with pytest.raises(InfiniteKLError, match="infinite.*cauchy"):
        uniform_pairing({"name": "cauchy"}, {"name": prior}, latent_dim=4)


def test_unknown_family_in_mixture_lists_valid_ones():
    with pytest.raises(UnknownOptionError, match="valid families"):
        mixture_pairing([{"posterior": "lognormal", "prior": "normal", "fraction": 1.0}], latent_dim=4)


def test_conditionally_finite_pair_bounds_the_scale():
    pairing = uniform_pairing({"name": "laplace"}, {"name": "gumbel"}, latent_dim=3)
    scale = pairing.scale(torch.tensor([[-50.0, 0.0, 50.0]]))
    assert (scale < 1).all() and (scale > 0).all()
    kl = kl_divergence(pairing.posterior(torch.zeros(1, 3), scale), pairing.prior())
    assert torch.isfinite(kl).all()


def test_kl_without_closed_form_falls_back_to_monte_carlo():
    pairing = uniform_pairing({"name": "normal"}, {"name": "logistic"}, latent_dim=2, mc_samples=200_000)
    torch.manual_seed(0)
    q = pairing.posterior(torch.tensor([[0.3, -0.5]]), torch.tensor([[0.8, 1.2]]))
    mc = kl_divergence(q, pairing.prior())
    import numpy as np
    from scipy import integrate, stats
    ref = 0.0
    for m, s in ((0.3, 0.8), (-0.5, 1.2)):
        f = lambda z: stats.norm.pdf(z, m, s) * (stats.norm.logpdf(z, m, s) - stats.logistic.logpdf(z))  # noqa: E731
        ref += integrate.quad(f, -np.inf, np.inf)[0]
    assert mc.item() == pytest.approx(ref, abs=0.01)


def test_a_component_with_no_dimensions_is_refused():
    comps = [{"posterior": "laplace", "prior": "laplace", "fraction": 0.01},
             {"posterior": "normal", "prior": "normal", "fraction": 0.99}]
    with pytest.raises(PairingError, match=r"La\|\|La \(fraction 0.01\) get 0 of the 20"):
        mixture_pairing(comps, latent_dim=20)
    with pytest.raises(PairingError, match="latent_dim must be at least 1"):
        mixture_pairing(comps, latent_dim=0)


def test_scale_parametrizations():
    raw = torch.tensor([[-2.0, 0.0, 3.0]])
    soft = uniform_pairing({"name": "normal"}, {"name": "normal"}, 3).scale(raw)
    logvar = uniform_pairing({"name": "normal"}, {"name": "normal"}, 3, scale_param="log_variance").scale(raw)
    assert torch.allclose(soft, torch.nn.functional.softplus(raw) + 1e-4)
    assert torch.allclose(logvar, torch.exp(raw / 2) + 1e-4)  # sigma^2 = exp(r): r is the log-variance
    with pytest.raises(PairingError, match="log_variance"):
        uniform_pairing({"name": "normal"}, {"name": "normal"}, 3, scale_param="tanh")
