"""Bounds, q_EW sampling, pictures and torch-fidelity metrics on a briefly trained model."""
import json
import math
from pathlib import Path

import pytest
import torch
from conftest import SHARED, compose, run_cli, tiny_overrides

from autovae.app.train import build
from autovae.inference.bounds import BoundSpec, estimate_bound, log_weights
from autovae.inference.objectives import renyi_bound
from autovae.inference.sampling import importance_weighted_latents, to_uint8_rgb

WEIGHTS = SHARED / "weights" / "inception-v3-compat-fid-only.pth"


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained")
    overrides = [o for o in tiny_overrides(data_dir, out, "posterior=logistic", "trainer.max_epochs=2",
                                           "dataset.train_subset=5000") if not o.startswith("callbacks")]
    cfg = compose([*overrides, "~callbacks"])
    model, datamodule, trainer = build(cfg)
    trainer.fit(model, datamodule=datamodule)
    model.eval()
    return model.net, datamodule.test_data[:100]


def test_chunked_bound_equals_the_one_pass_bound(trained):
    model, x = trained
    for alpha in (1.0, 0.0, 0.5, -math.inf):
        torch.manual_seed(0)
        chunked = estimate_bound(model, x, BoundSpec(alpha, 60), chunk=7)
        torch.manual_seed(0)
        lw = torch.cat([log_weights(model, x, n) for n in (7,) * 8 + (4,)])
        assert torch.allclose(chunked, renyi_bound(lw, alpha), rtol=1e-5, atol=1e-3)


def test_iwae_bound_is_above_the_elbo_and_below_the_nll_estimate(trained):
    model, x = trained
    torch.manual_seed(0)
    elbo = estimate_bound(model, x, BoundSpec(1.0, 1)).mean()
    iwae = estimate_bound(model, x, BoundSpec(0.0, 50)).mean()
    nll = estimate_bound(model, x, BoundSpec(0.0, 5000), chunk=1000).mean()
    assert elbo < iwae <= nll
    assert nll - elbo < 30  # a sane gap for a 20-dimensional latent on MNIST


def test_importance_weighted_posterior_picks_heavy_proposals(trained):
    model, x = trained
    torch.manual_seed(0)
    z_iw = importance_weighted_latents(model, x[:20], 100)
    z_q = model.posterior(x[:20]).sample()
    ll = lambda z: (model.log_likelihood_fn(x[:20])(z[None]) + model.prior().log_prob(z[None]))[0]  # noqa: E731
    assert z_iw.shape == z_q.shape
    assert ll(z_iw).mean() > ll(z_q).mean()  # resampled latents explain the data better


def test_uint8_rgb_conversion():
    grey = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1)
    rgb = to_uint8_rgb(grey)
    assert rgb.dtype == torch.uint8 and rgb.shape == (3, 3, 1, 1)
    assert rgb[:, 0, 0, 0].tolist() == [0, 128, 255]


def test_fid_and_kid_between_real_image_sets(data_dir, inception_weights):
    from autovae.data.datasets import load_split
    from autovae.lightning.callbacks.fidelity import fidelity_metrics

    real = load_split("mnist", data_dir, train=False)
    a = to_uint8_rgb(real[:10].float() / 255)
    b = to_uint8_rgb(real[10:20].float() / 255)
    noise = torch.randint(0, 256, a.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    kw = dict(isc=False, feature_extractor_weights_path=str(inception_weights), cuda=False, kid_subset_size=10)
    real_vs_real = fidelity_metrics(a, b, **kw)
    real_vs_noise = fidelity_metrics(noise, b, **kw)
    assert 0 < real_vs_real["fid"] < real_vs_noise["fid"]
    assert real_vs_real["kid"] < real_vs_noise["kid"]


def register_tiny_classifier() -> None:
    """A small classifier registered with torch-fidelity as ``autovae-tiny-test``: FID and IS paths
    without the Inception weights. torch-fidelity refuses a second registration of one name, so
    the tests that share it register it once per process."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    if "autovae-tiny-test" in FEATURE_EXTRACTORS_REGISTRY:
        return
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    class TinyClassifier(FeatureExtractorBase):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            self.net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(48, 10))
            torch.nn.init.normal_(self.net[2].weight, std=0.5, generator=torch.Generator().manual_seed(0))

        def forward(self, x):
            return (self.net(x.float() / 255),)

        @staticmethod
        def get_provided_features_list():
            return ("logits_unbiased",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "logits_unbiased"

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return None

    torch_fidelity.register_feature_extractor("autovae-tiny-test", TinyClassifier)


def test_inception_score_path_with_a_stand_in_classifier():
    """IS through torch-fidelity with a small registered classifier (the shared weights' head is NaN)."""
    from autovae.lightning.callbacks.fidelity import fidelity_metrics

    register_tiny_classifier()
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    out = fidelity_metrics(images, images, isc=True, fid=False, kid=False, feature_extractor="autovae-tiny-test",
                           cuda=False)
    assert 1.0 < out["is"] < 10.0  # IS lies between 1 and the number of classes


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_train_cli_writes_fid_kid_and_pictures(data_dir, inception_weights, tmp_path):
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith(("paths.output_dir", "callbacks"))]
    proc = run_cli("train.py", [*common, "callbacks=fidelity", "callbacks.progress_bar=null",
                                "callbacks.fidelity.num_samples=8",  # IS left on: these weights cannot give it
                                f"callbacks.fidelity.feature_extractor_weights_path={inception_weights}",
                                f"paths.log_dir={tmp_path}", "logger=wandb"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = next((tmp_path / "runs").iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert metrics["test/fid"] > 0 and "test/kid" in metrics
    assert "test/is" not in metrics  # skipped with one message, not a NaN that fails a healthy run
    assert "Inception Score skipped" in (run_dir / "train.log").read_text()
    for name in ("samples", "reconstructions", "traversals", "interpolations"):
        assert (run_dir / "images" / f"{name}_final.png").stat().st_size > 100
    assert list((run_dir / "wandb").glob("offline-run-*")), "W&B wrote no offline run"
    assert list((tmp_path / "fidelity_cache").rglob("*")), "reference statistics were not cached"
    fidelity = json.loads((run_dir / "metrics.json").read_text())["ran"]["fidelity"]
    assert fidelity == {"feature_extractor": "inception-v3-compat-fast", "weights": inception_weights.name, "samples": 8,
                        "isc": False, "fid": True, "kid": True}


def test_kl_landscape_and_renyi_plot(trained, tmp_path):
    from autovae.paper.plots import bound_vs_alpha, kl_landscape, plot_bound_vs_alpha, plot_kl_landscapes

    mu, sigma = torch.linspace(-1, 1, 21), torch.linspace(0.5, 1.5, 21)
    for pair in (("normal", "normal"), ("laplace", "laplace"), ("cauchy", "cauchy")):
        kl = kl_landscape(*pair, mu, sigma)
        i, j = divmod(kl.argmin().item(), 21)
        assert (mu[i].item(), sigma[j].item()) == pytest.approx((0.0, 1.0), abs=1e-6)  # zero at Q = P
    assert plot_kl_landscapes([("normal", "normal"), ("cauchy", "cauchy")], tmp_path / "kl.png").stat().st_size > 1000
    model, x = trained
    alphas = [0.0, 0.5, 1.0, 2.0]
    values = bound_vs_alpha(model, x[:50], alphas, samples=20)
    assert values == sorted(values, reverse=True)  # L_alpha falls as alpha grows
    assert plot_bound_vs_alpha(alphas, {"Lo||N": values}, tmp_path / "renyi.png").stat().st_size > 1000


def test_a_classifier_head_that_is_not_finite_is_found(tmp_path):
    from autovae.lightning.callbacks.fidelity import classifier_head_is_finite

    for name, head in (("real", torch.ones(3, 2)), ("fid_only", torch.full((3, 2), math.nan))):
        torch.save({"conv.weight": torch.ones(2, 2), "fc.weight": head, "fc.bias": torch.zeros(3)}, tmp_path / name)
    assert classifier_head_is_finite(tmp_path / "real") and not classifier_head_is_finite(tmp_path / "fid_only")
    assert classifier_head_is_finite(None)  # torch-fidelity's own download
    if WEIGHTS.exists():
        assert not classifier_head_is_finite(WEIGHTS)  # the shared weights are made for FID only


def test_a_committed_run_folder_says_it_holds_no_weights():
    from pathlib import Path

    from autovae.errors import NoWeightsError
    from autovae.lightning.restore import load_model

    committed = Path(__file__).resolve().parents[2] / "results" / "table_b" / "N_N" / "seed_0"
    with pytest.raises(NoWeightsError, match="holds no weights.*overrides.yaml"):
        load_model(committed)


def test_a_trained_run_from_python(data_dir, tmp_path):
    """load_run gives samples, posteriors, reconstructions and log p(x) estimates that agree with the run."""
    import autovae
    from autovae.app.train import run

    result = run(compose(tiny_overrides(data_dir, tmp_path / "run")))
    trained = autovae.load_run(tmp_path / "run")
    assert trained.metrics == result["metrics"]
    x = torch.rand(5, 1, 28, 28).round()
    assert trained.sample(7).shape == (7, 1, 28, 28)
    q = trained.encode(x)
    assert q.batch_shape == (5,) and q.mean.shape == (5, 20)
    assert trained.reconstruct(x).shape == x.shape
    torch.manual_seed(0)
    elbo, log_p = trained.bound(x, 1.0, 1), trained.log_prob(x, samples=200)
    assert elbo.shape == log_p.shape == (5,) and bool((log_p > elbo).all())
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        trained.encode(torch.rand(5, 784))
    # samples exported: a PNG grid, and an NPZ array that the same seed draws again exactly
    import numpy as np
    from PIL import Image

    grid = trained.save_samples(tmp_path / "out" / "samples.png", 16)
    assert Image.open(grid).size == (2 + 4 * 30, 2 + 4 * 30)  # torchvision's grid of 4 x 4 with padding 2
    saved = np.load(trained.save_samples(tmp_path / "out" / "samples.npz", 16, seed=3))["images"]
    assert saved.dtype == np.uint8 and saved.shape == (16, 1, 28, 28)
    again = np.load(trained.save_samples(tmp_path / "again.npz", 16, seed=3))["images"]
    assert (saved == again).all() and not list((tmp_path / "out").glob(".*partial*"))
    with pytest.raises(ValueError, match=".png or .npz"):
        trained.save_samples(tmp_path / "samples.jpg")


def test_a_finished_run_evaluated_again_gives_its_figures_and_changes_nothing(data_dir, inception_weights, tmp_path):
    from autovae.app.train import run

    folder = tmp_path / "run"
    run(compose(tiny_overrides(data_dir, folder)))
    before = (folder / "metrics.json").read_bytes()
    proc = run_cli("evaluate.py", [f"run={folder}", "name=again"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((folder / "evaluations" / "again.json").read_text())["metrics"]
    recorded = {k: v for k, v in json.loads(before)["metrics"].items() if k.startswith("test/")}
    assert again == recorded  # the same weights, data and test noise
    assert (folder / "metrics.json").read_bytes() == before
    proc = run_cli("evaluate.py", [f"run={folder}", "evaluation.nll_samples=50", "name=nll"])
    assert proc.returncode == 0 and "test/nll" in json.loads((folder / "evaluations" / "nll.json").read_text())["metrics"]
    weights = str(inception_weights)
    proc = run_cli("evaluate.py", [f"run={folder}", "callbacks=fidelity", "callbacks.fidelity.num_samples=100",
                                   "callbacks.fidelity.isc=false", f"callbacks.fidelity.feature_extractor_weights_path={weights}",
                                   f"callbacks.fidelity.cache_root={tmp_path / 'cache'}", "name=fid"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((folder / "evaluations" / "fid.json").read_text())["metrics"]["test/fid"] > 0
    refused = run_cli("evaluate.py", [f"run={folder}", "model.net.latent_dim=5"])
    assert refused.returncode == 2 and "model.net.latent_dim=5" in refused.stderr
    committed = Path(__file__).resolve().parents[2] / "results" / "table_b" / "N_N" / "seed_0"
    weightless = run_cli("evaluate.py", [f"run={committed}"])
    assert weightless.returncode == 2 and "holds no weights" in weightless.stderr
    assert not (committed / "evaluations").exists()


def test_fid_shows_the_progress_of_its_features_and_none_for_a_cached_reference(tmp_path, caplog):
    import logging

    from autovae.lightning.callbacks.fidelity import fidelity_metrics

    register_tiny_classifier()
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    kw = dict(isc=False, fid=True, kid=False, feature_extractor="autovae-tiny-test", cuda=False,
              reference_cache="autovae-progress-test", cache_root=str(tmp_path))
    caplog.set_level(logging.INFO, logger="autovae.lightning.progress")
    for _ in range(2):
        fidelity_metrics(images, images.flip(0), **kw)
    lines = [r.getMessage() for r in caplog.records if r.name == "autovae.lightning.progress"]
    generated = [m for m in lines if m.startswith("autovae-tiny-test features of generated samples: 40 of 40 images in ")]
    reference = [m for m in lines if m.startswith("autovae-tiny-test features of reference images: 40 of 40 images in ")]
    assert len(generated) == 2 and len(reference) == 1, lines  # the second reference came from the cache
