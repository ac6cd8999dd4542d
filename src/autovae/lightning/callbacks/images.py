"""Pictures of a model: samples, reconstructions, latent traversals and interpolations.

Saved as PNG under ``<run dir>/images`` and logged to W&B when a WandbLogger is attached.
"""
from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger
from torchvision.utils import make_grid, save_image

from autovae.inference.sampling import importance_weighted_latents


@torch.no_grad()
def picture_set(model, x: torch.Tensor, n_samples: int = 64, steps: int = 9, span: float = 3.0,
                iw_samples: int = 50) -> dict[str, torch.Tensor]:
    """Image grids (C, H, W) in [0, 1] for a batch of test images x."""
    decode = lambda z: model.likelihood.mean(model.decode(z))  # noqa: E731
    pics = {"samples": make_grid(model.sample(n_samples), nrow=8)}
    x = x[:8]
    q = model.posterior(x)
    z_iw = importance_weighted_latents(model, x, iw_samples)
    pics["reconstructions"] = make_grid(torch.cat([x, decode(q.mean), decode(q.sample()), decode(z_iw)]), nrow=8)
    base = q.mean[0]
    dims = min(model.latent_dim, 10)
    offsets = torch.linspace(-span, span, steps, device=x.device)
    z = base.repeat(dims, steps, 1)
    z[torch.arange(dims), :, torch.arange(dims)] = base[:dims, None] + offsets  # vary one dimension per row
    pics["traversals"] = make_grid(decode(z.flatten(0, 1)), nrow=steps)
    t = torch.linspace(0, 1, steps, device=x.device)[:, None]
    pairs = [(q.mean[i], q.mean[i + 1]) for i in range(0, min(len(x) - 1, 8), 2)]
    path = torch.cat([(1 - t) * a + t * b for a, b in pairs])
    pics["interpolations"] = make_grid(decode(path), nrow=steps)
    return pics


class ImageGrids(Callback):
    """Draws the picture set every ``every_n_epochs`` epochs and at the end of training."""

    def __init__(self, every_n_epochs: int = 10, n_samples: int = 64, iw_samples: int = 50):
        self.every_n_epochs, self.n_samples, self.iw_samples = every_n_epochs, n_samples, iw_samples

    def _draw(self, trainer, pl_module, tag: str) -> None:
        if not trainer.is_global_zero:
            return
        x = trainer.datamodule.test_data[:8].to(pl_module.device)
        was_training = pl_module.training
        pl_module.eval()
        pics = picture_set(pl_module.net, x, self.n_samples, iw_samples=self.iw_samples)
        pl_module.train(was_training)
        folder = Path(trainer.default_root_dir) / "images"
        folder.mkdir(parents=True, exist_ok=True)
        for name, grid in pics.items():
            save_image(grid, folder / f"{name}_{tag}.png")
        for lg in trainer.loggers:  # one key per grid: a dashboard shows one size per key, and the grids differ
            for name, grid in pics.items():
                if isinstance(lg, TensorBoardLogger):
                    lg.experiment.add_image(f"images/{name}", grid.cpu(), global_step=trainer.global_step)
                elif hasattr(lg, "log_image"):  # W&B
                    lg.log_image(key=f"images/{name}", images=[grid.cpu()], caption=[tag], step=trainer.global_step)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        epoch = trainer.current_epoch + 1
        if self.every_n_epochs and epoch % self.every_n_epochs == 0 and not trainer.sanity_checking:
            self._draw(trainer, pl_module, f"epoch{epoch:03d}")

    def on_fit_end(self, trainer, pl_module) -> None:
        self._draw(trainer, pl_module, "final")
