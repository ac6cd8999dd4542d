import pytest
import torch

from autovae.distributions.fast_softplus import form_for, log_softplus, softplus, softplus_form


@pytest.mark.parametrize("form", [log_softplus, softplus], ids=["log form", "as chosen for this CPU"])
def test_softplus_matches_torch_in_value_and_gradient_over_the_whole_range(form):
    """Either form (log instead of log1p, or torch's own) is F.softplus to float32's rounding, stays
    finite at extreme logits, and has softplus's exact gradient sigmoid(l)."""
    logits = torch.cat([torch.linspace(-120, 120, 2001), torch.tensor([0.0, -1e4, 1e4, 1e-30, -1e-30])])
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-7)):
        l = logits.to(dtype).requires_grad_()
        value = form(l)
        value.sum().backward()
        ref = torch.nn.functional.softplus(logits.double())
        assert torch.isfinite(value).all()
        assert torch.allclose(value.double(), ref, rtol=2e-7, atol=tol)
        assert torch.allclose(l.grad.double(), torch.sigmoid(logits.double()), atol=tol)
    assert torch.autograd.gradcheck(form, (torch.randn(3, 7, dtype=torch.float64, requires_grad=True) * 30,))


def test_the_form_follows_the_cpu_vendor_so_every_process_on_a_machine_computes_the_same_values():
    """AMD CPUs (log1p at 12x log on an EPYC) take the log form, Intel's (2.9x on a Xeon) torch's
    softplus, GPUs always torch's kernel; no timing enters, so two processes cannot disagree."""
    assert form_for("cpu", "AuthenticAMD") == "log"
    assert form_for("cpu", "GenuineIntel") == "torch"
    assert form_for("cuda", "AuthenticAMD") == "torch"
    assert softplus_form("cpu") in ("log", "torch")


@pytest.mark.parametrize("form", [log_softplus, softplus], ids=["log form", "as chosen for this CPU"])
def test_a_density_built_on_softplus_compiles_into_one_graph(form):
    """torch.compile traces softplus whole: the Bernoulli density (x.l - softplus(l), summed), as a
    compiled NLL or objective would hold it, is one graph with no break (reading the CPU's vendor on
    each call broke it in two, and the compiled density ran no faster than the eager one)."""
    from autovae.distributions.likelihoods import Bernoulli

    torch._dynamo.reset()
    logits, x = torch.randn(4, 1, 28, 28), torch.rand(4, 1, 28, 28)
    explained = torch._dynamo.explain(lambda l, x: (l.flatten(-3) * x.flatten(-3)).sum(-1) - form(l.flatten(-3)).sum(-1))(logits, x)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0)
    density = torch._dynamo.explain(Bernoulli().log_prob)(x, logits)
    assert (density.graph_count, density.graph_break_count) == (1, 0)
