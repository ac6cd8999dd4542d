"""The latent statistics of HEBAE's Fig. 2: the means' independence numbers and the index-code MIC/TIC."""
import json
import shutil

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal

from autovae.errors import ConfigError
from autovae.evaluation.latent import LatentStatistics, independence, index_code_information, mic_tic


class GaussianEncoder(torch.nn.Module):
    """q(z | x) = N(x[:, :k], scale^2 I): the means are the inputs, the scale is fixed."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale, self.posterior_scale = scale, None

    def posterior(self, x):
        return Independent(Normal(x, torch.full_like(x, self.scale)), 1)


def test_independence_numbers_of_a_known_covariance():
    cov = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 0.001]])
    std = cov.diagonal().sqrt()
    numbers = independence(cov, cov / (std[:, None] * std[None, :]))
    assert numbers["collapsed_dimensions"] == 1
    assert abs(numbers["mean_abs_offdiagonal_correlation"] - 1 / 6) < 1e-6  # two 0.5s among six entries
    assert abs(numbers["cov_minus_identity_fro"] - (0.5 + 0.999 ** 2) ** 0.5) < 1e-5


def test_mic_scores_a_function_near_one_and_independent_noise_near_zero():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=1000)
    assert mic_tic(x, np.sin(6 * x))[0] > 0.95
    assert mic_tic(x, rng.uniform(size=1000))[0] < 0.2


def test_a_deterministic_encoder_carries_more_index_information_than_a_wide_posterior():
    """WAE's point encoder makes z a function of the image; a posterior as wide as the means' spread
    hides which image a code came from: the paper's ordering WAE > HEBAE > VAE rests on this."""
    means = torch.randn(100, 4)
    narrow = index_code_information(GaussianEncoder(1e-3), means, draws=20)
    wide = index_code_information(GaussianEncoder(1.0), means, draws=20)
    assert len(narrow["mic"]) == 4 and len(narrow["tic"]) == 4
    assert narrow["mean_mic"] > 0.8 and wide["mean_mic"] < 0.5 and narrow["mean_tic"] > wide["mean_tic"]


def test_impossible_latent_statistics_settings_are_refused_by_name(tmp_path):
    from conftest import compose

    from autovae.app.checks import check_config

    with pytest.raises(ConfigError, match="mi_draws"):
        LatentStatistics(mi_draws=1)
    cfg = compose(["evaluation.latent_statistics={images: 100, draws: 3}", f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"unknown evaluation.latent_statistics keys \['draws'\]; valid: images, mi_images"):
        check_config(cfg)


def test_a_run_records_its_latent_statistics_and_fig2_draws_them_without_weights(data_dir, tmp_path):
    """Committed runs keep no checkpoints: Fig. 2 must come from metrics.json alone."""
    from conftest import compose, run_cli, tiny_overrides

    from autovae.app.train import run

    run_dir = tmp_path / "fig2" / "hebae" / "seed_0"
    cfg = compose(tiny_overrides(data_dir, run_dir, "model=hebae", "trainer.max_steps=3", "callbacks.images=null",
                                 "evaluation.bounds=[]", "model.scale_refit.steps=5",
                                 "evaluation.latent_statistics={images: 300, mi_images: 30, mi_draws: 5}"))
    assert run(cfg)["status"] == "completed"
    stats = json.loads((run_dir / "metrics.json").read_text())["latent_statistics"]
    k = cfg.model.net.latent_dim
    assert np.array(stats["covariance"]).shape == (k, k) and stats["settings"]["images"] == 300
    assert len(stats["index_code"]["mic"]) == k and 0 <= stats["index_code"]["mean_mic"] <= 1
    assert "index_code_refitted_scale" in stats  # HEBAE's scale is refitted after training
    shutil.rmtree(run_dir / "checkpoints")
    out = tmp_path / "fig2" / "hebae_fig2.png"
    proc = run_cli("scripts/figures.py", ["hebae_fig2", f"runs={tmp_path / 'fig2'}", f"out={out}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert list(numbers) == ["hebae/seed_0"] and numbers["hebae/seed_0"]["model"] == "HEBAE"
    assert numbers["hebae/seed_0"]["mean_mic"] == stats["index_code"]["mean_mic"]
    assert numbers["hebae/seed_0"]["cov_minus_identity_fro"] == stats["cov_minus_identity_fro"]
