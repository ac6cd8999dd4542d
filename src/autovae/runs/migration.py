"""Run records written by earlier versions keep reading as if written today.

Two changes are undone here, on read, so that resumes, ``make table`` and figures treat an old run
folder exactly like a new one (docs/configuration.md, run folders):

- the model/loop split: ``model`` was one node holding both the generative model (architecture,
  latent_dim, pairing, likelihood, HEBAE's lam, the flows) and the loop (divergence, optimizer,
  evaluation); the math now lives in ``model.net``;
- the package layout: modules moved into layer packages (``autovae.divergences`` is
  ``autovae.inference.objectives``, ...), so a recorded ``_target_`` names today's module.

This module only transforms configs; ``autovae.runs.upgrade`` rewrites the files of a folder.
"""
from __future__ import annotations

import copy
from typing import Any

# Where each module of the flat layout lives now; old import paths resolve through
# ``autovae._moved`` for one release, and recorded ``_target_`` values are rewritten by it.
MOVED_MODULES = {
    "autovae.fast_softplus": "autovae.distributions.fast_softplus",
    "autovae.pairing": "autovae.distributions.pairing",
    "autovae.likelihoods": "autovae.distributions.likelihoods",
    "autovae.objectives": "autovae.inference.log_weights",
    "autovae.divergences": "autovae.inference.objectives",
    "autovae.evaluation.bounds": "autovae.inference.bounds",
    "autovae.evaluation.sampling": "autovae.inference.sampling",
    "autovae.evaluation.scale_refit": "autovae.inference.scale_refit",
    "autovae.models.networks": "autovae.models.components.networks",
    "autovae.models.module": "autovae.lightning.module",
    "autovae.callbacks": "autovae.lightning.callbacks",
    "autovae.callbacks.fidelity": "autovae.lightning.callbacks.fidelity",
    "autovae.callbacks.images": "autovae.lightning.callbacks.images",
    "autovae.loggers": "autovae.lightning.loggers",
    "autovae.checkpoints": "autovae.lightning.checkpoints",
    "autovae.precision": "autovae.lightning.precision",
    "autovae.termination": "autovae.lightning.termination",
    "autovae.progress": "autovae.lightning.progress",
    "autovae.host_allocator": "autovae.lightning.host_allocator",
    "autovae.evaluation.restore": "autovae.lightning.restore",
    "autovae.run_folder": "autovae.runs.folder",
    "autovae.config_migration": "autovae.runs.migration",
    "autovae.tables": "autovae.paper",
    "autovae.tables.paper": "autovae.paper.tables",
    "autovae.tables.collect": "autovae.paper.collect",
    "autovae.tables.claims": "autovae.paper.claims",
    "autovae.tables.render": "autovae.paper.render",
    "autovae.evaluation.figures": "autovae.paper.figures",
    "autovae.evaluation.plots": "autovae.paper.plots",
    "autovae.evaluation.reevaluate": "autovae.app.reevaluate",
    "autovae.train": "autovae.app.train",
    "autovae.cli": "autovae.app.cli",
    "autovae.resolvers": "autovae.app.resolvers",
    "autovae.config_checks": "autovae.app.checks",
    "autovae.sweep": "autovae.app.sweep_summary",
}
# Classes renamed after the bound they train: recorded targets name the new class.
RENAMED_CLASSES = {"autovae.inference.objectives.KL": "autovae.inference.objectives.ELBO",
                   "autovae.inference.objectives.Renyi": "autovae.inference.objectives.RenyiBound"}
# A module split in three: its old name serves the names of all three.
SPLIT_MODULES = {"autovae.results": ("autovae.runs.record", "autovae.runs.atomic", "autovae.runs.keys")}

LOOP_TARGET = "autovae.lightning.module.AutoVAEModule"
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


def current_target(target: str) -> str:
    """``module.Name`` with the module's path (the longest moved prefix wins) and the class's name of today."""
    module = target.rpartition(".")[0]
    while module:
        if module in MOVED_MODULES:
            target = f"{MOVED_MODULES[module]}{target[len(module):]}"
            break
        module = module.rpartition(".")[0]
    return RENAMED_CLASSES.get(target, target)


def _current_targets(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: (current_target(v) if k == "_target_" and isinstance(v, str) else _current_targets(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_current_targets(v) for v in node]
    return node


def upgrade_config(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """A resolved config (metrics.json's ``config``) in today's layout; a current one is returned as is."""
    if not isinstance(config, dict):
        return config
    upgraded = copy.deepcopy(config)
    if is_old_layout(upgraded.get("model")):
        upgraded["model"] = upgrade_model_node(upgraded["model"])
    upgraded = _current_targets(upgraded)
    return config if upgraded == config else upgraded


def upgrade_record(payload: Any) -> Any:
    """A metrics.json payload with its config, and the ``_target_`` values its ``ran`` block recorded
    (the architecture that trained), in today's layout; a current one is returned as is."""
    if not isinstance(payload, dict):
        return payload
    config = upgrade_config(payload.get("config")) if "config" in payload else None
    ran = _current_targets(payload["ran"]) if isinstance(payload.get("ran"), dict) else None
    changed = {**({"config": config} if "config" in payload and config is not payload["config"] else {}),
               **({"ran": ran} if ran is not None and ran != payload["ran"] else {})}
    return {**payload, **changed} if changed else payload
