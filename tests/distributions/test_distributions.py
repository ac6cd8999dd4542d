import math

import pytest
import torch
from scipy import stats

from autovae.distributions import FAMILIES, Logistic, get_family, UnknownOptionError


def test_logistic_matches_scipy():
    loc, scale = torch.tensor([0.3, -2.0], dtype=torch.float64), torch.tensor([0.5, 3.0], dtype=torch.float64)
    d = Logistic(loc, scale)
    x = torch.linspace(-30, 30, 41, dtype=torch.float64).unsqueeze(-1)
    ref = stats.logistic(loc.numpy(), scale.numpy())
    assert torch.allclose(d.log_prob(x), torch.from_numpy(ref.logpdf(x.numpy())), rtol=1e-10, atol=1e-12)
    assert torch.allclose(d.cdf(x), torch.from_numpy(ref.cdf(x.numpy())), rtol=1e-10, atol=1e-12)
    assert torch.allclose(d.entropy(), torch.from_numpy(ref.entropy()), rtol=1e-10)
    assert torch.allclose(d.icdf(d.cdf(x[10:30])), x[10:30], atol=1e-8)


def test_logistic_rsample_moments_and_gradient():
    torch.manual_seed(0)
    loc = torch.tensor(1.5, requires_grad=True)
    scale = torch.tensor(0.7, requires_grad=True)
    z = Logistic(loc, scale).rsample((200_000,))
    assert z.mean().item() == pytest.approx(1.5, abs=0.01)
    assert z.var().item() == pytest.approx(math.pi ** 2 * 0.49 / 3, rel=0.02)
    z.mean().backward()
    assert loc.grad.item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_reparameterizes(name):
    loc = torch.zeros(3, requires_grad=True)
    scale = torch.full((3,), 0.5, requires_grad=True)
    d = get_family(name).build(loc, scale)
    z = d.rsample((5,))
    assert z.shape == (5, 3)
    d.log_prob(z).sum().backward()
    assert scale.grad is not None and torch.isfinite(scale.grad).all()


def test_exponential_is_a_scale_family():
    d = get_family("exponential").build(torch.tensor(5.0), torch.tensor(2.0))
    assert d.mean.item() == pytest.approx(2.0)  # location ignored, mean = scale


def test_unknown_family_lists_valid_ones():
    with pytest.raises(UnknownOptionError, match="cauchy.*exponential.*gumbel"):
        get_family("studentt")


def test_uniform_posterior_density_covers_its_closed_interval():
    """A sample that rounds onto the upper end must not get log q = -inf (it made an NLL infinite)."""
    from autovae.distributions.families import get_family

    q = get_family("uniform").build(torch.tensor([0.3, -1.0]), torch.tensor([0.7, 2.0]))
    for edge in (q.low, q.high):
        assert torch.isfinite(q.log_prob(edge)).all()
    assert torch.isinf(q.log_prob(q.high + 1e-3)).all()
    assert torch.allclose(q.log_prob(torch.tensor([0.5, 0.0])), -torch.log(torch.tensor([1.4, 4.0])))
