"""A finished run evaluated again from its folder: its recorded config (with any overrides, such as a
larger ``evaluation.nll_samples`` or ``callbacks=fidelity``), its checkpoint's weights, the test loop.

The run's own metrics.json is never changed: each evaluation is written, atomically, to
``<run>/evaluations/<name>.json`` with the overrides it used, the code that ran and its metrics. With no
override the recorded test figures come out again exactly (the test noise is a function of the seed).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import yaml
from omegaconf import OmegaConf

from autovae.errors import ConfigError, NoWeightsError
from autovae.runs.atomic import write_json_atomic

# What an evaluation may change: how the test is done, never what was trained.
from autovae.runs.record import read_metrics

EVALUATION_KEYS = ("evaluation.", "callbacks", "trainer.accelerator", "trainer.devices", "trainer.precision",
                   "threads", "dataset.eval_batch_size", "dataset.test_subset", "model.scale_refit")


# The recorded config is resolved, so the module's copies of the evaluation keys are set with them.
MODULE_COPIES = {"evaluation.nll_samples": "model.nll_samples", "evaluation.nll_images": "model.nll_images",
                 "evaluation.bounds": "model.test_bounds", "evaluation.rows_per_pass": "model.rows_per_pass"}


def _checked(overrides: Sequence[str]) -> list[str]:
    for item in overrides:
        key = item.lstrip("+~").split("=", 1)[0]
        if "=" not in item or not key.startswith(EVALUATION_KEYS):
            raise ConfigError(f"evaluate.py takes run=FOLDER and overrides of how the test is done "
                              f"({', '.join(k.rstrip('.') for k in EVALUATION_KEYS)}); {item!r} is not one")
    return list(overrides)


def _composed_fidelity(overrides: list[str], paths) -> dict:
    """The fidelity callback that ``overrides`` (callbacks=fidelity, callbacks.fidelity.*) compose, with
    the run's own recorded paths (its fidelity cache)."""
    from hydra import compose, initialize_config_dir

    conf = Path(__file__).resolve().parents[3] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        composed = compose(config_name="train", overrides=overrides)
    OmegaConf.set_struct(composed, False)
    composed.paths = paths
    node = composed.callbacks.get("fidelity")
    return {"fidelity": OmegaConf.to_container(node, resolve=True)} if node is not None else {}


def reevaluate(folder: str | Path, overrides: Sequence[str] = (), name: str | None = None) -> dict[str, Any]:
    import lightning as L
    import torch

    from autovae.app.train import _denormals, _metrics, build, code_version
    from autovae.lightning.checkpoints import load_checkpoint
    from autovae.lightning.module import upgrade_state_dict

    folder = Path(folder)
    payload = read_metrics(folder)
    if not payload or "config" not in payload:
        raise ConfigError(f"{folder}: no readable metrics.json with a config; run=... must be a run folder")
    checkpoint = folder / "checkpoints" / "last.ckpt"
    if not checkpoint.is_file():
        raise NoWeightsError(f"{folder} holds no weights ({checkpoint} is missing): committed results keep no "
                             "checkpoints, so they cannot be evaluated again; train the run again first")
    cfg = OmegaConf.create(payload["config"])
    OmegaConf.set_struct(cfg, False)
    overrides = _checked(overrides)
    groups = [o for o in overrides if o.lstrip("+~").startswith("callbacks")]
    if groups:  # a config group (callbacks=fidelity and its keys): composed as train.py would compose it
        cfg.callbacks = _composed_fidelity(groups, cfg.paths)
    for item in (o for o in overrides if o not in groups):
        key, text = item.lstrip("+~").split("=", 1)
        value = OmegaConf.create(text) if text.startswith(("[", "{")) else yaml.safe_load(text)
        for target in (key, MODULE_COPIES.get(key)):
            if target:
                OmegaConf.update(cfg, target, value, force_add=True)
    callbacks = cfg.get("callbacks") or {}  # only the test's own: no checkpoints, images or progress bars
    cfg.callbacks = {"fidelity": callbacks["fidelity"]} if "fidelity" in callbacks else {}
    cfg.logger = {}
    started = time.time()
    _denormals(cfg)  # the run's own setting, so that its figures come out as it computed them
    L.seed_everything(cfg.seed, workers=True)
    module, datamodule, trainer = build(cfg)
    state = load_checkpoint(checkpoint)["state_dict"]
    module.load_state_dict(upgrade_state_dict(state, module.state_dict()))
    datamodule.setup()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    split, images = ("val", datamodule.val_data) if datamodule.val_size else ("train", datamodule.train_data)
    refit = module.refit_posterior_scale(images, split)
    trainer.test(module, datamodule=datamodule, verbose=False)
    record = {"run_dir": str(folder), "overrides": list(overrides), "code": code_version(), "started": started,
              "finished": time.time(), "metrics": _metrics(trainer),
              **({"posterior_scale_refit": refit} if refit else {})}
    path = folder / "evaluations" / f"{name or time.strftime('%Y-%m-%d_%H-%M-%S')}.json"
    write_json_atomic(path, record)
    return {**record, "written": str(path)}
