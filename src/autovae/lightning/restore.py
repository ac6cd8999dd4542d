"""Rebuilds a trained model from its run directory (metrics.json's resolved config + checkpoint)."""
from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from autovae.errors import NoWeightsError
from autovae.inference.scale_refit import apply_recorded_refit
from autovae.lightning.checkpoints import load_checkpoint
from autovae.runs.record import read_metrics


def load_model(run_dir: str | Path, map_location: str = "cpu"):
    """The trained generative model (``net``, in eval mode) of a run folder, and its config.

    Old run folders load too: ``read_metrics`` upgrades their config and ``upgrade_state_dict``
    their checkpoint's keys to the layout with the model in ``net``. The checkpoint is read with the
    weights-only loader: one that would unpickle code is refused."""
    from autovae.lightning.module import upgrade_state_dict

    run_dir = Path(run_dir)
    payload = read_metrics(run_dir)
    if not payload or "config" not in payload:
        raise FileNotFoundError(f"{run_dir}: no readable metrics.json with a config")
    cfg = OmegaConf.create(payload["config"])
    model = instantiate(cfg.model)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise NoWeightsError(
            f"{run_dir} holds no weights ({checkpoint} is missing): committed results keep metrics.json, the "
            f"config, the history and images but no checkpoints. Train it again (python train.py with the "
            f"overrides in {run_dir / '.hydra' / 'overrides.yaml'}) and load the new folder")
    state = load_checkpoint(checkpoint, map_location=map_location)["state_dict"]
    model.load_state_dict(upgrade_state_dict(state, model.state_dict()))
    apply_recorded_refit(model.net, payload.get("ran"))
    return model.net.eval(), cfg
