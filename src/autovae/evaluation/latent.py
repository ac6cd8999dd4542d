"""How a trained model's latent code is distributed (the HEBAE paper's Fig. 2).

- The posterior means of test images: their covariance and correlation (Fig. 2a-b), with how far they
  are from N(0, I)'s independence (``independence``).
- The index-code mutual information I(i; z_j) between an image's index i and each latent dimension
  z_j (Fig. 2c-d), which the paper estimates by the Maximal and Total Information Coefficients
  (MIC, TIC; Reshef et al. 2011) of minepy: ``draws`` samples z ~ q(z | x_i) for each of ``images``
  test images give pairs (i, z_j), and MIC and TIC are computed per dimension. A deterministic
  encoder (WAE) makes z_j a function of i, which MIC scores near 1; a posterior as wide as the spread
  of its means makes i and z_j nearly independent, which it scores near 0.

The numbers are written into the run's metrics.json (``latent_statistics``) when
``evaluation.latent_statistics`` is set, so the figure is drawn from the run record, not from weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from autovae.errors import ConfigError


@dataclass(frozen=True)
class LatentStatistics:
    """``evaluation.latent_statistics``: the test images whose posterior means give the covariance, and
    the images, draws per image and minepy settings of the index-code MIC/TIC."""
    images: int = 2000
    mi_images: int = 100
    mi_draws: int = 20
    alpha: float = 0.6  # minepy's defaults (Reshef et al.): grids of at most n**alpha cells
    c: float = 15.0
    collapsed_below: float = 0.01  # a dimension whose means vary less than this carries no information

    def __post_init__(self):
        for name in ("images", "mi_images", "mi_draws"):
            if int(getattr(self, name)) < 2:
                raise ConfigError(f"evaluation.latent_statistics.{name}={getattr(self, name)} is not allowed: "
                                  "at least 2 are needed")
        if not 0 < self.alpha <= 1:
            raise ConfigError(f"evaluation.latent_statistics.alpha={self.alpha} is not allowed: it must be in (0, 1]")


def independence(cov: torch.Tensor, corr: torch.Tensor, collapsed_below: float = 0.01) -> dict[str, float]:
    """How far the latent means are from N(0, I)'s independence: ||Cov - I||_F, the mean absolute
    off-diagonal correlation, and the dimensions whose means barely vary (collapsed)."""
    k = cov.shape[0]
    off = ~torch.eye(k, dtype=torch.bool)
    return {"cov_minus_identity_fro": float(torch.linalg.matrix_norm(cov - torch.eye(k))),
            "mean_abs_offdiagonal_correlation": float(corr.abs()[off].mean()),
            "collapsed_dimensions": int((cov.diagonal() < collapsed_below).sum())}


@torch.no_grad()
def mean_moments(net, x: torch.Tensor, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """(covariance, correlation) of the posterior means of ``x``, in float64."""
    means = torch.cat([net.posterior(b).mean for b in x.split(batch_size)]).double().cpu()
    cov = torch.cov(means.T)
    std = cov.diagonal().sqrt().clamp_min(1e-12)
    return cov, cov / (std[:, None] * std[None, :])


def mic_tic(index: np.ndarray, values: np.ndarray, alpha: float = 0.6, c: float = 15.0) -> tuple[float, float]:
    """minepy's MIC and normalised TIC of the pairs (index, values)."""
    try:
        import minepy
    except ImportError as err:  # built from source by `make install` (scripts/install_minepy.sh)
        raise ConfigError("the index-code MIC/TIC needs minepy: run `make install` or "
                          "`bash scripts/install_minepy.sh`, or set evaluation.latent_statistics=null") from err
    mine = minepy.MINE(alpha=alpha, c=c, est="mic_approx")
    mine.compute_score(np.asarray(index, dtype=np.float64), np.asarray(values, dtype=np.float64))
    return float(mine.mic()), float(mine.tic(norm=True))


@torch.no_grad()
def index_code_information(net, x: torch.Tensor, draws: int, alpha: float = 0.6, c: float = 15.0,
                           seed: int = 0) -> dict[str, Any]:
    """MIC and TIC of (i, z_j) per latent dimension j, from ``draws`` samples of q(z | x_i) per image."""
    torch.manual_seed(seed)
    z = net.posterior(x).sample((draws,)).double().cpu().numpy()  # (draws, n, k)
    index = np.broadcast_to(np.arange(x.shape[0], dtype=np.float64)[None, :], z.shape[:2]).reshape(-1)
    per_dim = [mic_tic(index, z[..., j].reshape(-1), alpha, c) for j in range(z.shape[-1])]
    mic, tic = [p[0] for p in per_dim], [p[1] for p in per_dim]
    return {"mic": mic, "tic": tic, "mean_mic": float(np.mean(mic)), "mean_tic": float(np.mean(tic))}


def latent_statistics(net, test_images: torch.Tensor, spec: LatentStatistics, seed: int = 0) -> dict[str, Any]:
    """The record written into metrics.json: the settings, the means' covariance and correlation
    matrices, ``independence`` of them, and the index-code MIC/TIC of the posterior as trained (and,
    where a scale multiplier was refitted after training, of the refitted posterior too)."""
    was_training = net.training
    net.eval()
    try:
        x = test_images[: spec.images]
        cov, corr = mean_moments(net, x)
        mi_x = test_images[: spec.mi_images]
        refitted = getattr(net, "posterior_scale", None)
        net.posterior_scale = None
        trained = index_code_information(net, mi_x, spec.mi_draws, spec.alpha, spec.c, seed)
        net.posterior_scale = refitted
        out = {"settings": {**asdict(spec), "images": len(x), "mi_images": len(mi_x), "split": "test",
                            "estimator": "minepy MIC (mic_approx) and normalised TIC of (image index, z_j)"},
               "covariance": cov.tolist(), "correlation": corr.tolist(),
               **independence(cov, corr, spec.collapsed_below), "index_code": trained}
        if refitted is not None:
            out["index_code_refitted_scale"] = index_code_information(net, mi_x, spec.mi_draws, spec.alpha, spec.c, seed)
        return out
    finally:
        net.train(was_training)
