"""Which config keys say what a run computes, and which only how: the one list behind resume checks,
seed grouping and sweep folder names."""
from __future__ import annotations

from typing import Any


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {"a.b.c": value}."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


# Settings that say how a run computes, not what: left out both when a folder's configuration is
# compared on resume and when runs are grouped into seeds. (threads, a fused optimizer and flushing
# subnormal floats change only float rounding, as a different machine would.)
HOW_NOT_WHAT = ("paths", "run_name", "sweep_name", "skip_completed", "on_error", "on_config_change", "ckpt_path",
                "logger", "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
                "trainer.default_root_dir", "trainer.plugins", "threads", "host_allocator", "denormals", "model.optimizer.fused",
                "model.optimizer.foreach", "dataset.data_dir", "dataset.seed_dir", "callbacks.fidelity.cache_root",
                "hydra")
# Measurements taken after training: adding one to a run changes nothing it trains.
MEASUREMENTS_ONLY = ("evaluation.latent_statistics",)
# What may change between a start and its resumption without changing what the run computes.
MAY_CHANGE_ON_RESUME = (*HOW_NOT_WHAT, *MEASUREMENTS_ONLY, "trainer.max_epochs", "callbacks.progress_bar", "callbacks.images",
                        "callbacks.lr_monitor", "callbacks.model_checkpoint")
# Left out when grouping runs into seeds: besides how a run computes, callbacks only add measurements
# (FID/KID, pictures): seeds with and without FID are the same model, and the FID/KID rows name their
# sample counts.
NOT_PART_OF_A_GROUP = (*HOW_NOT_WHAT, *MEASUREMENTS_ONLY, "seed", "dataset.seed", "callbacks", "column")
# Left out of a sweep job's folder name when it is named by its overrides (where the sweep's swept
# keys are unknown): what may change on resume, and the device, which a resumed job may also change.
NOT_IN_A_FOLDER_NAME = (*MAY_CHANGE_ON_RESUME, "trainer.accelerator")


def without(flat: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The flattened config less the keys equal to, or under, any of ``prefixes``."""
    return {k: v for k, v in flat.items() if not any(k == p or k.startswith(p.rstrip(".") + ".") for p in prefixes)}


# Settings added after runs were already made, with the value that reproduces what those runs did:
# a run without the key and a run with this value computed the same thing.
ADDED_SETTINGS = {"pairing.scale_param": "softplus", "model.net.pairing.scale_param": "softplus",
                  "model.net.architecture.init": "default"}


def canonical(flat: dict[str, Any]) -> dict[str, Any]:
    """A flattened config without added settings at the value older runs implicitly had."""
    return {k: v for k, v in flat.items() if not (k in ADDED_SETTINGS and v == ADDED_SETTINGS[k])}
