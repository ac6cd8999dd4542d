"""HEBAE, planar flows, WAE-MMD and beta-VAE: their math, and that each trains with each likelihood."""
import pytest
import torch
from conftest import compose, tiny_overrides
from torch.distributions import MultivariateNormal, kl_divergence

from autovae.app.train import build, run
from autovae.lightning.module import evaluate_once
from autovae.models.flow import PlanarFlowPosterior, constrain_u, planar_step
from autovae.models.hebae import BatchTooSmallError, empirical_moments, hebae_regularizer
from autovae.models.vae import VAE
from autovae.models.wae import imq_mmd

LIKELIHOODS = ["bernoulli", "continuous_bernoulli", "mse", "mae", "normal", "laplace", "beta"]


def test_hebae_regularizer_is_the_kl_of_the_aggregate():
    torch.manual_seed(0)
    mu = torch.randn(64, 5, dtype=torch.float64) * 0.7 + 0.3
    beta, sigma = empirical_moments(mu, jitter=0.0)
    assert torch.allclose(beta, mu.mean(0)) and torch.allclose(sigma, torch.cov(mu.T))
    independent = kl_divergence(MultivariateNormal(beta, sigma),
                                MultivariateNormal(torch.zeros(5, dtype=torch.float64), torch.eye(5, dtype=torch.float64)))
    assert torch.allclose(hebae_regularizer(beta, sigma), independent)


def test_hebae_refuses_a_batch_not_larger_than_the_latent_dimension():
    with pytest.raises(BatchTooSmallError, match="batch larger than the latent dimension"):
        empirical_moments(torch.randn(5, 5))


def test_hebae_cholesky_sample_has_covariance_sigma_i_squared_sigma(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "model=hebae", "model.net.latent_dim=4"))
    module, datamodule, _ = build(cfg)
    model = module.net
    datamodule.setup()
    x = datamodule.train_data[:50]
    model.train()
    q = model.posterior(x)
    torch.manual_seed(0)
    z = q.sample((100_000,))[:, 0]  # draws for the first example
    mu, scale = model._encode(x[:1])
    _, sigma = empirical_moments(model.encoder(x)[..., :-1].detach(), model.jitter)
    expected = scale[0].detach() ** 2 * sigma
    error = torch.linalg.matrix_norm(torch.cov(z.T) - expected) / torch.linalg.matrix_norm(expected)
    assert error < 0.03  # Monte Carlo error of 100k draws is about 1%
    whitened = torch.linalg.solve_triangular(torch.linalg.cholesky(expected), (z - mu[0].detach()).T, upper=False)
    assert whitened.mean(1).abs().max() < 0.02


def test_planar_log_det_matches_autograd_jacobian():
    torch.manual_seed(0)
    d = 4
    u, w, b = torch.randn(d, dtype=torch.float64) * 2, torch.randn(d, dtype=torch.float64), torch.randn(1, dtype=torch.float64)
    for _ in range(5):
        z = torch.randn(d, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(lambda v: planar_step(v, u, w, b)[0], z)
        assert torch.allclose(planar_step(z, u, w, b)[1], torch.linalg.slogdet(jac)[1])


def test_u_hat_keeps_the_flow_invertible():
    torch.manual_seed(1)
    u, w = torch.randn(1000, 6, dtype=torch.float64) * 5, torch.randn(1000, 6, dtype=torch.float64) * 5
    assert ((w * u).sum(-1) < -1).any()  # unconstrained, many flows would not be invertible
    assert ((w * constrain_u(u, w)).sum(-1) >= -1 - 1e-9).all()


def test_flow_density_tracks_the_change_of_variables():
    torch.manual_seed(2)
    base = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(2), torch.ones(2)), 1)
    params = [(torch.randn(2), torch.randn(2), torch.randn(1)) for _ in range(3)]
    q = PlanarFlowPosterior(base, params)
    z = q.rsample((20000,))
    log_q = q.log_prob(z)
    # importance identity: E_q[p0(z) / q(z)] = 1 for a normalized density p0
    ratio = torch.exp(base.log_prob(z) - log_q).mean()
    assert ratio.item() == pytest.approx(1.0, abs=0.05)


def test_a_flow_posterior_is_a_torch_transformed_distribution_with_its_density_at_its_own_samples():
    """The planar flows are torch Transforms: q_K is a TransformedDistribution whose log_prob at its
    own draw is log q_0(z_0) - sum_k log|det df_k/dz|, and which refuses, with the reason, a point it
    did not draw (a planar flow has no closed-form inverse)."""
    base = torch.distributions.Independent(torch.distributions.Normal(torch.zeros(5, 2), torch.ones(5, 2)), 1)
    params = [(torch.randn(2), torch.randn(2), torch.randn(1)) for _ in range(3)]
    q = PlanarFlowPosterior(base, params)
    assert isinstance(q, torch.distributions.TransformedDistribution) and q.batch_shape == (5,)
    torch.manual_seed(4)
    z = q.rsample((4,))
    torch.manual_seed(4)
    step = base.rsample((4,))
    expected = base.log_prob(step)
    for u, w, b in params:
        step, log_det = planar_step(step, u, w, b)
        expected = expected - log_det
    assert torch.allclose(z, step) and torch.allclose(q.log_prob(z), expected, atol=1e-5)
    mean = base.mean
    for u, w, b in params:
        mean = planar_step(mean, u, w, b)[0]
    assert torch.allclose(q.mean, mean)
    assert torch.allclose(q.log_prob(z), expected, atol=1e-5)  # the mean left the draw's inverse cached
    with pytest.raises(NotImplementedError, match="no closed-form inverse"):
        q.log_prob(torch.zeros(4, 5, 2))


def test_flow_with_zero_flows_is_the_plain_vae(data_dir, tmp_path):
    torch.manual_seed(0)
    flow, _, _ = build(compose(tiny_overrides(data_dir, tmp_path, "model=flow", "model.net.flows=0")))
    torch.manual_seed(0)
    vae, dm, _ = build(compose(tiny_overrides(data_dir, tmp_path, "model=vae")))
    dm.setup()
    x = dm.test_data[:10]
    assert type(flow.net.posterior(x)) is type(vae.net.posterior(x))
    torch.manual_seed(3)
    a = flow.net.objective(x, flow.divergence).bound
    torch.manual_seed(3)
    assert torch.allclose(a, vae.net.objective(x, vae.divergence).bound)


def test_free_bits_change_the_loss_only_below_free_nats_and_never_the_bound(data_dir, tmp_path):
    torch.manual_seed(0)
    module, dm, _ = build(compose(tiny_overrides(data_dir, tmp_path, "model=free_bits",
                                                 "model.net.free_nats=1000")))
    dm.setup()
    x, net = dm.test_data[:16], module.net
    net.train()
    torch.manual_seed(1)
    out = net.objective(x, module.divergence)
    assert torch.allclose(out.loss, (out.reconstruction + 1000.0).mean())  # every KL is below 1000
    torch.manual_seed(1)
    plain = VAE.objective(net, x, module.divergence)
    assert torch.allclose(out.bound, plain.bound) and not torch.allclose(out.loss, plain.loss)
    net.free_nats = 0.0  # KL is never negative: the plain VAE's loss
    torch.manual_seed(1)
    assert torch.allclose(net.objective(x, module.divergence).loss, plain.loss)
    assert net.describe()["free_nats"] == 0.0


def _validation_loss(module, x, seed):
    """val/loss as validation computes it, on the images x, with the noise drawn from ``seed``."""
    module.eval()
    torch.manual_seed(seed)
    module.validation_step(x, 0)
    loss = module.val_metrics["loss"].compute()
    module.val_metrics["loss"].reset()
    return loss


def _trained_a_step(data_dir, tmp_path, *overrides):
    module, dm, _ = build(compose(tiny_overrides(data_dir, tmp_path, *overrides)))
    dm.setup()
    module.net.train()
    module.net.objective(dm.train_data[:64], module.divergence)  # HEBAE: running moments leave their start
    return module, dm.val_data[:64]


def test_free_bits_validation_loss_is_its_training_loss(data_dir, tmp_path):
    module, x = _trained_a_step(data_dir, tmp_path, "model=free_bits", "model.net.free_nats=1000")
    loss = _validation_loss(module, x, seed=5)
    torch.manual_seed(5)
    ev = evaluate_once(module.net, x)  # the same one sample per image that validation drew
    assert torch.allclose(loss, (ev.recon_expected + 1000.0).mean())  # every KL is below 1000 nats
    assert not torch.allclose(loss, -ev.elbo.mean())  # the plain ELBO's loss, which val/loss used to be


def test_hebae_validation_loss_is_its_training_loss_at_the_running_moments(data_dir, tmp_path):
    module, x = _trained_a_step(data_dir, tmp_path, "model=hebae", "model.net.latent_dim=4", "model.net.lam=3.0")
    net = module.net
    beta, sigma = net.running_beta.clone(), net.running_sigma.clone()
    assert not torch.allclose(sigma, torch.eye(4))
    loss = _validation_loss(module, x, seed=5)
    assert torch.equal(net.running_beta, beta) and torch.equal(net.running_sigma, sigma)  # validation moves nothing
    torch.manual_seed(5)
    evaluate_once(net, x)  # validation's ELBO draws first
    mu, scale = net._encode(x)
    z = MultivariateNormal(mu, scale_tril=scale[..., None, None] * torch.linalg.cholesky(sigma)).rsample()
    reconstruction = -net.likelihood.log_prob(x, net.decode(z)).mean()
    assert torch.allclose(loss, reconstruction + 3.0 * hebae_regularizer(beta, sigma), rtol=1e-5)


def test_wae_validation_loss_is_its_training_loss(data_dir, tmp_path):
    module, x = _trained_a_step(data_dir, tmp_path, "model=wae", "model.net.lam=50.0")
    net = module.net
    loss = _validation_loss(module, x, seed=5)
    torch.manual_seed(5)
    evaluate_once(net, x)
    q, p = net.posterior(x), net.prior()
    z = q.rsample()
    reconstruction = -net.likelihood.log_prob(x, net.decode(z)).mean()
    assert torch.allclose(loss, reconstruction + 50.0 * imq_mmd(z, p.sample((z.shape[0],))), rtol=1e-5)


@pytest.mark.parametrize("model,train,val", [("hebae", 2010, 300), ("wae", 2001, 301)])
def test_a_last_batch_too_short_for_the_objective_is_skipped_not_fatal(model, train, val, data_dir, tmp_path, caplog):
    """HEBAE's covariance needs more images than latents, WAE's MMD two: a data set whose size leaves a
    last batch of 10 (HEBAE, 20 latents) or 1 (WAE) used to end the run with an error or a NaN loss."""
    import logging
    import math

    caplog.set_level(logging.INFO, logger="autovae.lightning.module")
    result = run(compose(tiny_overrides(data_dir, tmp_path, f"model={model}", f"dataset.train_subset={train}",
                                        f"dataset.val_subset={val}")))
    assert result["status"] == "completed", result.get("error")
    assert math.isfinite(result["metrics"]["val/loss"])
    assert f"training: a batch of {train % 100} images is shorter than" in caplog.text
    if model == "wae":
        assert "validation: a batch of 1 images is shorter than the 2" in caplog.text


def test_batches_too_small_for_hebae_are_refused_at_the_first_step(data_dir, tmp_path):
    from autovae.errors import ConfigError

    with pytest.raises(ConfigError, match="needs batches of at least 21 images, and dataset.batch_size gives 20"):
        run(compose(tiny_overrides(data_dir, tmp_path, "model=hebae", "dataset.batch_size=20")))


def test_imq_mmd_separates_distributions():
    torch.manual_seed(0)
    p = torch.randn(400, 8)
    same, shifted = imq_mmd(torch.randn(400, 8), p), imq_mmd(torch.randn(400, 8) + 1.0, p)
    assert abs(same.item()) < 0.01 < shifted.item()


@pytest.mark.parametrize("model", ["hebae", "flow", "wae", "beta_vae", "free_bits"])
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_every_model_trains_with_every_likelihood(model, likelihood, data_dir, tmp_path):
    extra = ["model.net.amortized=true"] if model == "flow" else []
    cfg = compose(tiny_overrides(data_dir, tmp_path, f"model={model}", f"likelihood={likelihood}",
                                 "dataset.train_subset=500", *extra))
    result = run(cfg)
    assert result["status"] == "completed", result.get("error")
    assert all(k in result["metrics"] for k in ("val/elbo", "test/bound_a1_k1", "test/recon_at_mean"))
    assert (tmp_path / "images" / "samples_final.png").exists()


def test_figure_scripts_on_a_small_sweep(data_dir, tmp_path):
    from conftest import run_cli

    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    proc = run_cli("train.py", ["-m", *common, "model=vae,hebae,wae,flow", "trainer.max_epochs=2",
                                f"paths.log_dir={tmp_path}", "sweep_name=f", "logger=default", "logger.wandb=null"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = tmp_path / "multirun" / "f"
    for kind in ("hebae_fig1", "hebae_fig2", "flows"):
        out = tmp_path / f"{kind}.png"
        proc = run_cli("scripts/figures.py", [kind, f"runs={runs}", f"out={out}", "images=300"])
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert out.stat().st_size > 5000


@pytest.mark.parametrize("arch,shape,latent", [("conv_small", (3, 32, 32), 16), ("conv_celeba", (3, 64, 64), 64)])
def test_convolutional_architectures_train_a_step(arch, shape, latent, tmp_path, data_dir):
    import torch

    cfg = compose(tiny_overrides(data_dir, tmp_path, f"model/architecture={arch}", f"model.net.latent_dim={latent}",
                                 "dataset=" + {32: "cifar10", 64: "celeba"}[shape[1]], "likelihood=normal"))
    module, _, _ = build(cfg)
    model = module.net
    x = torch.rand(4, *shape)
    obj = model.objective(x, module.divergence)
    obj.loss.backward()
    assert obj.bound.shape == (4,) and torch.isfinite(obj.loss)
    assert model.decode(torch.zeros(2, latent)).shape == (2, 2 * shape[0], shape[1], shape[2])  # loc and scale per pixel
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == ([64, 128, 256] if arch == "conv_small" else [128, 256, 512, 1024])
    assert all(c.kernel_size == (5, 5) and c.stride == (2, 2) for c in convs)


@pytest.mark.parametrize("flows,amortized,outputs", [(3, False, 2 * 4), (3, True, 2 * 4 + 3 * (2 * 4 + 1))])
def test_a_model_sets_its_encoder_width_through_the_constructor(flows, amortized, outputs):
    from functools import partial

    from autovae.distributions.likelihoods import Bernoulli
    from autovae.distributions.pairing import uniform_pairing
    from autovae.models.components.networks import mlp
    from autovae.models.flow import PlanarFlowVAE

    pairing = uniform_pairing({"name": "normal"}, {"name": "normal"}, 4)
    plain = VAE(partial(mlp, hidden=(8,)), pairing, Bernoulli(), (1, 4, 4), 4, encoder_outputs=5)
    flow = PlanarFlowVAE(partial(mlp, hidden=(8,)), pairing, Bernoulli(), (1, 4, 4), 4, flows=flows, amortized=amortized)
    x = torch.rand(2, 1, 4, 4)
    assert plain.encoder(x).shape == (2, 5)
    assert flow.encoder(x).shape == (2, outputs)
    assert flow.posterior(x).rsample().shape == (2, 4)
