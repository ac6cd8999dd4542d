"""Run records written before the model/loop split keep reading as if written today.

Until commit "one LightningModule drives every model", ``model`` was one node holding both the
generative model (architecture, latent_dim, pairing, likelihood, HEBAE's lam, the flows) and the
loop (divergence, optimizer, evaluation). Now the math lives in ``model.net``. ``upgrade_config``
moves an old record's keys to where they live now, so resumes, ``make table`` and figures treat an
old run folder exactly like a new one (docs/configuration.md, run folders).
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

LOOP_TARGET = "autovae.models.module.AutoVAEModule"
# The keys of the LightningModule itself; everything else in an old ``model`` node is the net's.
LOOP_KEYS = ("_target_", "divergence", "optimizer", "scheduler", "test_bounds", "nll_samples", "nll_images",
             "rows_per_pass", "nan_check_every")


def is_old_layout(model: Any) -> bool:
    return isinstance(model, dict) and "net" not in model and "latent_dim" in model


def upgrade_model_node(model: dict[str, Any]) -> dict[str, Any]:
    net = {k: v for k, v in model.items() if k not in LOOP_KEYS or k == "_target_"}
    loop = {k: v for k, v in model.items() if k in LOOP_KEYS}
    # the old classes' names and paths are the nets' now: autovae.models.vae.VAE, hebae.HEBAE, ...
    return {**loop, "_target_": LOOP_TARGET, "net": net}


def upgrade_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A resolved config (metrics.json's ``config``) in today's layout; a new one is returned as is."""
    if not isinstance(config, dict) or not is_old_layout(config.get("model")):
        return config
    config = copy.deepcopy(config)
    config["model"] = upgrade_model_node(config["model"])
    return config


def upgrade_folder(root: str | Path) -> list[Path]:
    """Rewrites, atomically, every old-layout metrics.json under ``root``; returns those rewritten."""
    from autovae.results import METRICS_FILE, write_json_atomic  # results reads through this module

    rewritten = []
    for path in sorted(Path(root).rglob(METRICS_FILE)):
        payload = json.loads(path.read_text())
        config = payload.get("config") if isinstance(payload, dict) else None
        upgraded = upgrade_config(config)
        if upgraded is not config:
            write_json_atomic(path, {**payload, "config": upgraded})
            rewritten.append(path)
    return rewritten


if __name__ == "__main__":  # python -m autovae.config_migration <runs folder>
    if len(sys.argv) != 2:
        sys.exit("usage: python -m autovae.config_migration <runs folder>")
    done = upgrade_folder(sys.argv[1])
    print(f"rewrote {len(done)} metrics.json file(s) in today's layout")
