"""A trained run from Python: ``run = autovae.load_run("outputs/...")`` then ``run.sample(64)``,
``run.encode(x)``, ``run.reconstruct(x)``, ``run.log_prob(x)``, ``run.bound(x, alpha, samples)``,
``run.save_samples("samples.png" | "samples.npz", n)``.

Images are float tensors in [0, 1] of the run's image shape, (N, C, H, W); the run's model is in eval
mode on ``map_location``, with its recorded posterior-scale refit where it has one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from autovae.inference.bounds import BoundSpec, estimate_bounds
from autovae.runs.record import read_metrics


@dataclass
class TrainedRun:
    folder: Path
    model: Any  # the generative model (autovae.models.vae.VAE or a subclass)
    config: Any  # the run's resolved config (an OmegaConf DictConfig)
    record: dict  # its metrics.json: status, metrics, ran, code

    @property
    def metrics(self) -> dict[str, float]:
        return self.record.get("metrics") or {}

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        shape = tuple(self.model.image_shape)
        x = torch.as_tensor(x, dtype=torch.float32)
        if tuple(x.shape[1:]) != shape:
            raise ValueError(f"images of shape (N, {', '.join(map(str, shape))}) are expected, got {tuple(x.shape)}")
        return x.to(next(self.model.parameters()).device)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n images decoded from prior draws (the likelihood's mean)."""
        return self.model.sample(n)

    @torch.no_grad()
    def encode(self, x: torch.Tensor):
        """The posterior q(z | x): a torch Distribution with batch shape (N,) (``.mean``, ``.sample()``)."""
        return self.model.posterior(self._images(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The likelihood's mean at the posterior mean of each image."""
        return self.model.reconstruct(self._images(x))

    @torch.no_grad()
    def bound(self, x: torch.Tensor, alpha: float = 1.0, samples: int = 1) -> torch.Tensor:
        """Per-image L_{alpha,K} (nats): alpha=1, K=1 the ELBO; alpha=0 the IWAE bound."""
        spec = BoundSpec(alpha, samples)
        return estimate_bounds(self.model, self._images(x), [spec], chunk=max(1, 1000 // max(1, len(x))))[spec.key]

    def save_samples(self, path: str | Path, n: int = 64, seed: int | None = 0) -> Path:
        """n prior samples written to ``path``: ``.png`` a grid (torchvision), ``.npz`` the array ``images``
        as uint8 (N, C, H, W). Drawn with ``seed`` (None: the global generator); written atomically."""
        import os

        import numpy as np
        from torchvision.utils import save_image

        path = Path(path)
        if path.suffix not in (".png", ".npz"):
            raise ValueError(f"samples are written as .png or .npz, not {path.suffix or path.name!r}")
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            images = self.sample(n).float().clamp(0, 1).cpu()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
        if path.suffix == ".png":
            save_image(images, partial, nrow=max(1, int(n ** 0.5)))
        else:
            np.savez_compressed(partial, images=(images * 255).round().to(torch.uint8).numpy())
        os.replace(partial, path)
        return path

    def log_prob(self, x: torch.Tensor, samples: int = 5000) -> torch.Tensor:
        """Per-image estimate of log p(x): L_{0,K} with K importance samples (the NLL of metrics.json is its
        negative mean over the first nll_images test images)."""
        return self.bound(x, alpha=0.0, samples=samples)


def load_run(folder: str | Path, map_location: str = "cpu") -> TrainedRun:
    """A run folder that holds its checkpoint (committed results hold none: ``NoWeightsError`` says so)."""
    from autovae.lightning.restore import load_model

    model, cfg = load_model(folder, map_location=map_location)
    return TrainedRun(Path(folder), model, cfg, read_metrics(Path(folder)) or {})


__all__ = ["TrainedRun", "load_run"]
