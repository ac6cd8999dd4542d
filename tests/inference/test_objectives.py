"""The Rényi family of bounds on a model where log p(x) is known exactly.

A linear-Gaussian model p(z)=N(0,1), p(x|z)=N(z,1) has p(x)=N(0,2), so every bound can be
compared with the true log-likelihood; the posterior N(m, s) is deliberately off.
"""
import math

import torch
from torch import distributions as D

from autovae.inference.objectives import ELBO, IWAE, RenyiBound, analytic_kl, renyi_bound

X = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
TRUE_LOG_PX = D.Normal(0.0, math.sqrt(2.0)).log_prob(X)


def setup(loc_shift=0.4, scale=0.5):
    loc = (X / 2 + loc_shift).clone().requires_grad_(True)
    q = D.Independent(D.Normal(loc.unsqueeze(-1), torch.full((3, 1), scale, dtype=torch.float64)), 1)
    p = D.Independent(D.Normal(torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)), 1)
    ll = lambda z: D.Normal(z.squeeze(-1), 1.0).log_prob(X)  # noqa: E731
    return loc, q, p, ll


def test_renyi_alpha1_k1_equals_the_elbo_on_the_same_sample():
    _, q, p, ll = setup()
    torch.manual_seed(3)
    renyi = RenyiBound(alpha=1.0, samples=1)(q, p, ll)
    torch.manual_seed(3)
    z = q.rsample((1,))
    mc_elbo = ll(z) + p.log_prob(z) - q.log_prob(z)
    assert torch.allclose(renyi.bound, mc_elbo[0])


def test_mc_elbo_averages_to_the_closed_form_elbo():
    _, q, p, ll = setup()
    torch.manual_seed(0)
    closed = ELBO(samples=20000)(q, p, ll).bound  # closed-form KL, many samples for E log p(x|z)
    mc = RenyiBound(alpha=1.0, samples=20000)(q, p, ll).bound
    assert torch.allclose(closed, mc, atol=0.02)
    assert (closed < TRUE_LOG_PX).all()


def test_iwae_is_above_the_elbo_grows_with_k_and_stays_below_log_px():
    _, q, p, ll = setup()
    torch.manual_seed(1)
    reps = 4000

    def mean_bound(k):  # the bound's expectation, averaged over repetitions
        return renyi_bound(ll_weights(q, p, ll, k, reps), 0.0).mean(0)

    elbo = ll_weights(q, p, ll, 1, reps).mean(0).mean(0)
    b1, b5, b50 = mean_bound(1), mean_bound(5), mean_bound(50)
    assert torch.allclose(b1, elbo, atol=0.05)
    assert (b5 > elbo).all() and (b50 > b5).all()
    assert (b50 <= TRUE_LOG_PX + 1e-3).all()
    assert torch.allclose(b50, TRUE_LOG_PX, atol=0.05)


def ll_weights(q, p, ll, k, reps):
    z = q.rsample((k, reps))  # (k, reps, 3, 1)
    return (ll(z) + p.log_prob(z) - q.log_prob(z))  # (k, reps, 3) -> bound over axis 0


def test_bounds_are_ordered_in_alpha():
    _, q, p, ll = setup()
    torch.manual_seed(2)
    lw = ll_weights(q, p, ll, 20, 1)
    values = [renyi_bound(lw, a).squeeze(0) for a in (2.0, 1.0, 0.5, 0.0, -1.0, -math.inf)]
    for lower, higher in zip(values, values[1:]):
        assert (lower <= higher + 1e-9).all()  # L_alpha is non-increasing in alpha


def test_renyi_gradient_uses_self_normalized_weights():
    loc, q, p, ll = setup()
    alpha, k = 0.5, 7
    torch.manual_seed(5)
    z = q.rsample((k,))
    log_w = ll(z) + p.log_prob(z) - q.log_prob(z)
    renyi_bound(log_w, alpha).sum().backward(retain_graph=True)
    auto = loc.grad.clone()
    loc.grad = None
    weights = torch.softmax((1 - alpha) * log_w.detach(), dim=0)  # w_alpha / sum w_alpha
    (weights * log_w).sum().backward()
    assert torch.allclose(auto, loc.grad)


def test_iwae_is_renyi_zero_and_kl_beta_weights_the_kl():
    _, q, p, ll = setup()
    assert IWAE(samples=5).alpha == 0.0
    torch.manual_seed(0)
    plain = ELBO(beta=1.0)(q, p, ll)
    torch.manual_seed(0)
    weighted = ELBO(beta=4.0)(q, p, ll)
    assert torch.allclose(weighted.loss - plain.loss, 3 * plain.kl.mean())
    assert torch.allclose(weighted.bound, plain.bound)  # the reported bound is the ELBO either way


def test_kl_loss_from_the_callers_one_sample_equals_its_own_loss_at_that_sample():
    """Validation reuses its ELBO's sample for the loss; that must be the loss ELBO itself computes there,
    with the closed-form KL and with the Monte Carlo one (a pair without a registered KL)."""
    _, q, p, ll = setup()
    student = D.Independent(D.StudentT(3.0, torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)), 1)
    assert analytic_kl(q, student) is None
    for prior in (p, student):
        for beta in (1.0, 0.3):
            torch.manual_seed(5)
            own = ELBO(beta=beta)(q, prior, ll)
            torch.manual_seed(5)
            z = q.rsample((1,))
            assert torch.allclose(ELBO(beta=beta).loss_at_one_sample(ll(z)[0], own.kl), own.loss)
    assert ELBO(samples=3).loss_at_one_sample(ll(z)[0], own.kl) is None  # its own three samples
    assert RenyiBound(alpha=0.5, samples=1).loss_at_one_sample(ll(z)[0], own.kl) is None
