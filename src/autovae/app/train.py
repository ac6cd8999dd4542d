"""One training run from a composed config: build, fit, test, and write metrics.json."""
from __future__ import annotations

import contextlib
import logging
import math
import os
import traceback
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf
from optuna.exceptions import TrialPruned

from autovae.app.checks import check_config
from autovae.data import datamodule_from
from autovae.errors import AutovaeError, traceback_to_log_file
from autovae.inference import metric_names as m
from autovae.lightning import cuda_check, denormals, host_allocator, termination
from autovae.lightning.callbacks.fidelity import FidelityMetrics
from autovae.lightning.checkpoints import Resumable, remove_partial_writes, resumable, usable_checkpoint
from autovae.lightning.loggers import dashboard_config, finish_loggers
from autovae.lightning.module import DivergedError
from autovae.runs.folder import (FolderLock, check_folder, clear_history, config_hash, folder_record, keep_record,
                                 restore_record, should_skip, trim_history)
from autovae.runs.record import FAILED, TERMINATED, RunRecord

log = logging.getLogger(__name__)


# Committed run folders and rendered tables are data: a results/ change does not change the code that runs.
NOT_CODE = ":(exclude)results"


def code_version(root: Path | None = None) -> dict[str, Any]:
    """The commit this run's code came from (and whether tracked code had changes), where git knows."""
    import subprocess

    root = root or Path(__file__).resolve().parents[3]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", NOT_CODE],
                               cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {}
    if head.returncode != 0:
        return {}
    return {"git_commit": head.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _in_multirun() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def _is_rank_zero() -> bool:
    """Under DDP every rank runs this function; only rank 0 writes the run's files."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0))) == 0


def _instantiate_all(group: DictConfig | None) -> list:
    return [instantiate(node) for node in (group or {}).values() if node is not None]


def _found_while_building(err: Exception) -> AutovaeError | None:
    """The AutovaeError (a bad value, an impossible pairing) that Hydra's InstantiationException wraps."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, AutovaeError):
            return err
        err = err.__cause__ or err.__context__
    return None


def _without_orphans(callbacks: list, loggers: list) -> list:
    """A learning-rate monitor needs a logger to write to: with logger=none it is left out."""
    from lightning.pytorch.callbacks import LearningRateMonitor

    if loggers:
        return callbacks
    return [c for c in callbacks if not isinstance(c, LearningRateMonitor)]


def run_label(model) -> str:
    return f"{model.net.pairing.label} {type(model.net.likelihood).__name__} {type(model.divergence).__name__}"


def build(cfg: DictConfig, extra_callbacks: list | None = None):
    """The model (refusing impossible pairings first), the data, and the trainer of a config. A value
    that only a constructor can judge (divergence.samples=0, mixture fractions, a pairing whose KL is
    infinite) is raised as the ConfigError itself, not inside Hydra's InstantiationException."""
    from hydra.errors import InstantiationException

    try:
        return _build(cfg, extra_callbacks)
    except InstantiationException as err:
        known = _found_while_building(err)
        if known is None:
            raise
        raise known from None


def _build(cfg: DictConfig, extra_callbacks: list | None):
    cuda_check.skip_nvml_check_without_nvml()  # Lightning is imported: its NVML check, a dlopen per step on a CPU
    model = instantiate(cfg.model)
    if cfg.get("compile"):
        model.net.encoder, model.net.decoder = torch.compile(model.net.encoder), torch.compile(model.net.decoder)
    datamodule = datamodule_from(cfg)
    if not cfg.get("run_name"):
        OmegaConf.update(cfg, "run_name", run_label(model), force_add=True)
    loggers = _instantiate_all(cfg.get("logger"))
    callbacks = _without_orphans(_instantiate_all(cfg.get("callbacks")), loggers) + list(extra_callbacks or [])
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return model, datamodule, trainer


def _metrics(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if torch.is_tensor(v) and v.numel() == 1}


def ran_block(model, datamodule, trainer, cfg: DictConfig) -> dict[str, Any]:
    """What this run trains and evaluates, read from the objects themselves (not from class names)."""
    arch = OmegaConf.to_container(cfg.model.net.get("architecture") or {}, resolve=True)
    arch.pop("_partial_", None)
    return {**model.describe(), "dataset": datamodule.name, "precision": str(trainer.precision), "architecture": arch,
            "host_allocator": _host_allocator(cfg), "denormals": _denormals(cfg),
            "split": {"validation": "held_out_of_train" if datamodule.val_size else "none: trained on every training image",
                      "val_size": datamodule.val_size,
                      "nll_images": model.nll_images, "nll_samples": model.nll_spec.samples if model.nll_spec else 0}}


def fidelity_block(trainer) -> dict[str, Any]:
    """What computes the run's IS/FID/KID (extractor, weights, samples), where a callback does."""
    cuda = trainer.strategy.root_device.type == "cuda"
    found = [cb.describe(cuda) for cb in trainer.callbacks if isinstance(cb, FidelityMetrics)]
    return {"fidelity": found[0]} if found else {}


def _host_allocator(cfg: DictConfig) -> str:
    """Applies the run's host allocator setting (once per process) and says what it is."""
    return host_allocator.configure(cfg.get("host_allocator", "keep_freed"))


def _denormals(cfg: DictConfig) -> str:
    """Applies the run's subnormal-float setting and says what it is; a config without the key (a run
    from before it existed, evaluated again) keeps subnormals, as that run did."""
    return denormals.configure(cfg.get("denormals", "keep"))


def precision_reason(cfg: DictConfig, precision: str) -> str:
    from autovae.lightning.precision import choose

    chosen, why = choose(cfg.trainer.get("accelerator", "auto"))
    return f"default: {why}" if chosen == precision else "set by trainer.precision"


def _evaluate_split(model, datamodule, trainer, split: str) -> dict[str, float]:
    """The test-time evaluation (bounds, NLL, FID/KID) on the validation split, keyed val/..."""
    model.eval_split = split
    try:
        trainer.test(model, dataloaders=datamodule.val_dataloader(), verbose=False)
    finally:
        model.eval_split = "test"
    return _metrics(trainer)


def _resume_checkpoint(cfg: DictConfig, out: Path) -> Resumable | None:
    """Where training resumes: an explicit ckpt_path must load; the folder's own last.ckpt is set aside
    with a warning when corrupt, and the run starts from scratch. Either is refused when it would
    unpickle anything but tensors and plain data."""
    if cfg.get("ckpt_path"):
        return resumable(cfg.ckpt_path)
    return usable_checkpoint(out / "checkpoints" / "last.ckpt")


def run(cfg: DictConfig, extra_callbacks: list | None = None) -> dict[str, Any]:
    """Trains and tests one config. Returns (and writes to metrics.json) its status and metrics.

    Everything that can refuse the run (a bad value, an impossible pairing, a folder in use or holding
    another configuration) is checked before anything in the folder is written, and the folder is
    held by this process until the run ends."""
    out = Path(cfg.paths.output_dir)
    on_error = cfg.get("on_error", "auto")
    record_errors = on_error == "record" or (on_error == "auto" and _in_multirun())
    termination.install()
    termination.watch_parent()
    with contextlib.ExitStack() as held:
        try:
            check_config(cfg)
            _host_allocator(cfg)
            _denormals(cfg)
            L.seed_everything(cfg.seed, workers=True)  # before the model: its initial weights come from this seed
            built = build(cfg, extra_callbacks)
            if _is_rank_zero():
                held.enter_context(FolderLock(out))
            previous, config = folder_record(out, cfg)
            previous = check_folder(out, previous, config, cfg.get("on_config_change", "refuse"))
            _resume_checkpoint(cfg, out)  # an unsafe checkpoint is refused here, before anything is written
        except AutovaeError as err:  # nothing written: the folder may hold another run's record
            restore_record(out)
            if not record_errors:
                raise
            log.error("refused %s: %s", out, err)
            return {"status": "refused", "error": str(err), "run_dir": str(out)}
        if should_skip(previous, cfg.get("skip_completed")):
            restore_record(out)
            log.info("skipping %s: metrics.json says it completed", out)
            return previous
        try:
            return _train_and_test(cfg, out, built, previous, record_errors)
        except termination.RunTerminated:
            if termination.orphaned():  # its record is written and its launcher is gone: end the worker
                logging.shutdown()
                os._exit(termination.EXIT_TERMINATED)
            raise


def _train_and_test(cfg: DictConfig, out: Path, built: tuple, previous: dict | None,
                    record_errors: bool) -> dict[str, Any]:
    """The run itself, in a folder this process holds: its record is written first and last."""
    if _is_rank_zero():
        remove_partial_writes(out / "checkpoints")
        if previous is None:
            keep_record(out, cfg)
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    config = OmegaConf.to_container(cfg, resolve=True)
    record = RunRecord(out, config, code=code_version(), config_hash=config_hash(config), writes=_is_rank_zero())
    model, datamodule, trainer = built
    try:
        record.add(pairing=model.net.pairing.describe(),
                   ran={**ran_block(model, datamodule, trainer, cfg), **fidelity_block(trainer)})
        log.info("precision %s (%s); validation: %d images held out of the training set; the test set is "
                 "used only by the final evaluation", record["ran"]["precision"],
                 precision_reason(cfg, record["ran"]["precision"]), datamodule.val_size)
        record.write()
        for lg in trainer.loggers:  # dashboards filter and group runs on these
            lg.log_hyperparams(dashboard_config(config, record["ran"]))
        with termination.inside_trainer():
            record.add(fit_metrics=_fit(cfg, out, model, datamodule, trainer, previous))
        _refit_posterior_scale(model, datamodule, record)
        record.write()  # a kill during testing keeps the fit's metrics for the restart
        metrics = dict(record["fit_metrics"])
        with termination.inside_trainer():
            if cfg.evaluation.get("bounds_on_val", False):  # model selection (the search) reads these
                metrics.update(_evaluate_split(model, datamodule, trainer, "val"))
            if cfg.evaluation.get("test", True):
                trainer.test(model, datamodule=datamodule, verbose=False)
                metrics.update(_metrics(trainer))
        _refuse_nonfinite_test(metrics)
        _latent_statistics(cfg, model, datamodule, record)
        record.complete(metrics)
    except TrialPruned:
        record.end("pruned", _metrics(trainer))
        raise  # Optuna records the trial as pruned
    except (SIGTERMException, termination.RunTerminated) as err:
        record.end(TERMINATED, _metrics(trainer), reason="terminated",
                   error="terminated by SIGTERM; starting it again resumes from its last checkpoint")
        log.error("run terminated by SIGTERM: %s keeps its last checkpoint; starting it again resumes", out)
        raise termination.RunTerminated(str(out)) from err
    except DivergedError as err:
        log.error("run diverged: %s", err)
        record.end(FAILED, _metrics(trainer), reason="diverged", error=str(err))
    except Exception as err:
        record.end(FAILED, _metrics(trainer), reason="error", error=f"{type(err).__name__}: {err}")
        if not record_errors:
            raise
        where = traceback_to_log_file(traceback.format_exc(), out)
        log.error("run failed (%s: %s); recorded in metrics.json, traceback in %s; the sweep goes on",
                  type(err).__name__, err, where)
    finally:
        result = record.close(epochs=trainer.current_epoch, global_step=trainer.global_step)
        finish_loggers(trainer.loggers, dashboard_config(config, result.get("ran") or {}), result["status"])
    return result


def _refit_posterior_scale(model, datamodule, record: RunRecord) -> None:
    """Where no bound trains the posterior's scale (HEBAE, WAE), fits it on held-out images (the
    training images when there is no validation split) and records the fit in the ``ran`` block."""
    split, images = ("val", datamodule.val_data) if datamodule.val_size else ("train", datamodule.train_data)
    refit = model.refit_posterior_scale(images, split)
    if refit is not None:
        record.add(ran={**record["ran"], **model.describe(), "posterior_scale_refit": refit})
        log.info("posterior scale refitted on %d %s images (%s): ELBO %.2f -> %.2f", refit["images"], split,
                 refit["per"], refit["val_elbo_trained_scale"], refit["val_elbo_refit"])


def _latent_statistics(cfg: DictConfig, model, datamodule, record: RunRecord) -> None:
    """The latent means' covariance and the index-code MIC/TIC on the test images, into the record
    (``evaluation.latent_statistics``; HEBAE's Fig. 2 is drawn from them)."""
    settings = cfg.evaluation.get("latent_statistics")
    if not settings:
        return
    from autovae.evaluation.latent import LatentStatistics, latent_statistics

    spec = LatentStatistics(**OmegaConf.to_container(settings, resolve=True))
    datamodule.setup("test")
    record.add(latent_statistics=latent_statistics(model.net, datamodule.test_data.to(model.device), spec, seed=int(cfg.seed)))
    stats = record["latent_statistics"]
    log.info("latent means of %d test images: ||Cov - I||_F %.3f, mean |off-diagonal correlation| %.3f; "
             "index-code MIC %.3f, TIC %.3f", spec.images, stats["cov_minus_identity_fro"],
             stats["mean_abs_offdiagonal_correlation"], stats["index_code"]["mean_mic"], stats["index_code"]["mean_tic"])


def _fit(cfg: DictConfig, out: Path, model, datamodule, trainer, previous: dict | None) -> dict[str, float]:
    """Trains (resuming from the folder's checkpoint) and returns the training and validation metrics."""
    resume = _resume_checkpoint(cfg, out)
    if resume is not None:  # saved at the end of its epoch: training goes on with the next
        trim_history(out / "csv" / "metrics.csv", resume.epoch + 1, resume.global_step)
        log.info("resuming from %s (after epoch %d)", resume.path, resume.epoch)
    elif _is_rank_zero():
        clear_history(out)
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume.path if resume else None)
    metrics = _metrics(trainer)
    if m.val(m.ELBO) in metrics or not datamodule.val_size:
        return metrics
    if previous and previous.get("fit_metrics"):
        return dict(previous["fit_metrics"])  # killed while testing: training had already ended
    trainer.validate(model, datamodule=datamodule, verbose=False)  # training ended before a record of it
    return _metrics(trainer)


def _refuse_nonfinite_test(metrics: dict[str, float]) -> None:
    """A NaN test bound is a diverged model, not a number to average into a table."""
    bad = sorted(k for k, v in metrics.items() if k.startswith(f"{m.TEST}/") and not math.isfinite(v))
    if bad:
        raise DivergedError(f"non-finite test metrics: {', '.join(bad)}")


