import torch

from autovae.distributions.fast_softplus import softplus


def test_softplus_matches_torch_in_value_and_gradient_over_the_whole_range():
    """The fast softplus (log instead of log1p, for speed) is F.softplus to float32's
    rounding, stays finite at extreme logits, and has softplus's exact gradient sigmoid(l)."""
    logits = torch.cat([torch.linspace(-120, 120, 2001), torch.tensor([0.0, -1e4, 1e4, 1e-30, -1e-30])])
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-7)):
        l = logits.to(dtype).requires_grad_()
        value = softplus(l)
        value.sum().backward()
        ref = torch.nn.functional.softplus(logits.double())
        assert torch.isfinite(value).all()
        assert torch.allclose(value.double(), ref, rtol=2e-7, atol=tol)
        assert torch.allclose(l.grad.double(), torch.sigmoid(logits.double()), atol=tol)
    assert torch.autograd.gradcheck(softplus, (torch.randn(3, 7, dtype=torch.float64, requires_grad=True) * 30,))
