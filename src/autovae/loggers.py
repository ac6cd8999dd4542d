"""Logger factories: W&B online when an account is configured, offline otherwise."""
from __future__ import annotations

import netrc
import os
from pathlib import Path


def wandb_has_credentials() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_logger(project: str, save_dir: str, name: str | None = None, group: str | None = None,
                 mode: str = "auto", **kwargs):
    """A Lightning WandbLogger; mode=auto goes offline unless W&B credentials are present."""
    from lightning.pytorch.loggers import WandbLogger

    if mode == "auto":
        mode = os.environ.get("WANDB_MODE") or ("online" if wandb_has_credentials() else "offline")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_SILENT", "true")
    if mode == "disabled":
        kwargs["mode"] = "disabled"
    return WandbLogger(project=project, save_dir=save_dir, name=name, group=group or None,
                       offline=mode == "offline", **kwargs)
