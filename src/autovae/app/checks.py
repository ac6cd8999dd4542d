"""Checks of a composed config before anything is built, each failing with one line that names the
key, the value and what is allowed (Hydra already lists the valid options of a config group)."""
from __future__ import annotations

import math
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from autovae.errors import ConfigError

Check = Callable[[Any], bool]


def _int_at_least(low: int) -> tuple[Check, str]:
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low), f"an integer >= {low}"


def _optional(check: tuple[Check, str]) -> tuple[Check, str]:
    fn, text = check
    return (lambda v: v is None or fn(v)), f"null or {text}"


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


# key -> (check, what is allowed); keys missing from a config are not checked
CHECKS: dict[str, tuple[Check, str]] = {
    "model.net.latent_dim": _int_at_least(1),
    "trainer.max_epochs": _int_at_least(-1),
    "trainer.max_steps": _int_at_least(-1),
    "dataset.batch_size": _int_at_least(1),
    "dataset.eval_batch_size": _optional(_int_at_least(1)),
    "dataset.val_size": _int_at_least(0),
    "dataset.train_subset": _optional(_int_at_least(1)),
    "dataset.val_subset": _optional(_int_at_least(1)),
    "dataset.test_subset": _optional(_int_at_least(1)),
    "evaluation.nll_samples": _int_at_least(0),
    "evaluation.nll_images": _optional(_int_at_least(1)),
    "evaluation.rows_per_pass": _int_at_least(1),
    "model.nan_check_every": _int_at_least(1),
    "model.optimizer.lr": ((lambda v: _number(v) and v > 0), "a positive number"),
    "seed": _int_at_least(0),
    "threads": _optional(_int_at_least(1)),
}


def check_config(cfg: DictConfig) -> None:
    """Raises ConfigError for the first value that cannot work."""
    for key, (ok, allowed) in CHECKS.items():
        try:
            value = OmegaConf.select(cfg, key, throw_on_missing=False)
        except Exception as err:  # an interpolation that cannot resolve
            raise ConfigError(f"{key}: {err}") from err
        if OmegaConf.select(cfg, key, default="__absent__") == "__absent__":
            continue
        if not ok(value):
            raise ConfigError(f"{key}={value!r} is not allowed: it must be {allowed}")
    for i, bound in enumerate(OmegaConf.select(cfg, "evaluation.bounds", default=None) or []):
        alpha, samples = bound.get("alpha", 1.0), bound.get("samples", 1)
        if not _number(alpha) or not _int_at_least(1)[0](samples):
            raise ConfigError(f"evaluation.bounds[{i}]={OmegaConf.to_container(bound)} is not allowed: alpha must be "
                              "a number (or .inf / -.inf) and samples an integer >= 1")
    latent = OmegaConf.select(cfg, "evaluation.latent_statistics", default=None)
    if latent:
        from dataclasses import fields

        from autovae.evaluation.latent import LatentStatistics

        given = OmegaConf.to_container(latent, resolve=True)
        unknown = sorted(set(given) - {f.name for f in fields(LatentStatistics)})
        if unknown:
            raise ConfigError(f"unknown evaluation.latent_statistics keys {unknown}; valid: "
                              f"{', '.join(f.name for f in fields(LatentStatistics))}")
        LatentStatistics(**given)
