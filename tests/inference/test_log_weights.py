"""The shared log-weights and Rényi reduction: limits, streaming, metric keys, and fp32 under bf16."""
import math
from functools import partial

import pytest
import torch

from autovae.distributions.likelihoods import Bernoulli
from autovae.distributions.pairing import uniform_pairing
from autovae.inference.bounds import BoundSpec, estimate_bounds
from autovae.inference.log_weights import StreamingRenyi, renyi_bound
from autovae.inference.objectives import ELBO
from autovae.models.components.networks import mlp
from autovae.models.vae import VAE


def test_renyi_limits_are_the_max_and_the_min():
    log_w = torch.randn(40, 6) * 3
    assert torch.equal(renyi_bound(log_w, -math.inf), log_w.max(0).values)
    assert torch.equal(renyi_bound(log_w, math.inf), log_w.min(0).values)
    # the formula approaches both limits
    assert torch.allclose(renyi_bound(log_w, -200.0), log_w.max(0).values, atol=0.05)
    assert torch.allclose(renyi_bound(log_w, 200.0), log_w.min(0).values, atol=0.05)
    assert torch.all(renyi_bound(log_w, math.inf) <= renyi_bound(log_w, 1.0))


@pytest.mark.parametrize("alpha", [1.0, 0.0, 0.5, 2.0, -math.inf, math.inf])
def test_streaming_reduction_equals_the_one_pass_bound(alpha):
    log_w = torch.randn(50, 4) * 2
    acc = StreamingRenyi(alpha)
    for part in log_w.split(7):
        acc.update(part)
    assert torch.allclose(acc.result(), renyi_bound(log_w, alpha), atol=1e-5)


def test_bound_keys_tell_plus_from_minus_infinity():
    keys = {BoundSpec(a, 5).key for a in (math.inf, -math.inf, 0.0, 1.0)}
    assert keys == {"bound_ainf_k5", "bound_a-inf_k5", "bound_a0_k5", "bound_a1_k5"}
    with pytest.raises(ValueError, match="at least one"):
        BoundSpec(0.0, 0)


def _model():
    torch.manual_seed(0)
    return VAE(partial(mlp, hidden=(64, 64)), uniform_pairing({"name": "normal"}, {"name": "normal"}, 8),
               Bernoulli(), (1, 28, 28), 8).eval()


def test_bounds_that_share_samples_equal_separate_ones():
    model, x = _model(), torch.rand(5, 1, 28, 28)
    specs = [BoundSpec(1.0, 1), BoundSpec(0.0, 30), BoundSpec(math.inf, 12)]
    torch.manual_seed(1)
    shared = estimate_bounds(model, x, specs, chunk=4)
    torch.manual_seed(1)
    alone = estimate_bounds(model, x, [BoundSpec(0.0, 30)], chunk=4)
    assert torch.equal(shared["bound_a0_k30"], alone["bound_a0_k30"])  # same stream of samples
    assert torch.all(shared["bound_a1_k1"] <= shared["bound_a0_k30"] + 30)  # L_{1,1} is the first sample's


def test_bound_under_bf16_autocast_stays_float32_and_close_to_fp32():
    """The networks may run in bf16; log-densities, KLs and the log-sum-exp must not."""
    model, x = _model(), torch.rand(16, 1, 28, 28)
    spec = [BoundSpec(0.0, 50)]
    torch.manual_seed(2)
    with model.densities_in_fp32():
        exact = estimate_bounds(model, x, spec, chunk=10)["bound_a0_k50"]
    torch.manual_seed(2)
    with torch.autocast("cpu", dtype=torch.bfloat16), model.densities_in_fp32():
        assert model._network_dtype == torch.bfloat16
        mixed = estimate_bounds(model, x, spec, chunk=10)["bound_a0_k50"]
        elbo = model.objective(x, ELBO())
        assert model.decode(torch.zeros(1, 8)).dtype == torch.float32
    assert mixed.dtype == torch.float32 and elbo.bound.dtype == torch.float32 and elbo.kl.dtype == torch.float32
    # bf16 weights round to ~3 significant digits: the bound moves by well under 1% of its size
    assert torch.allclose(mixed, exact, rtol=5e-3)
    assert not torch.equal(mixed, exact)  # the networks did run in bf16
