"""Runs an Optuna study whose trials are train.py runs composed by Hydra."""
from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path
from typing import Any, Sequence

import optuna
from hydra import compose
from omegaconf import DictConfig, OmegaConf
from optuna.storages import JournalStorage, RDBStorage, RetryFailedTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.trial import TrialState

from autovae.errors import ConfigError, UnknownOptionError
from autovae.inference import metric_names as m
from autovae.runs.record import COMPLETED
from autovae.search.space import SearchSpace, finite, fixed_parts

log = logging.getLogger(__name__)

# objective name -> (metric key in metrics.json, direction). Every one is measured on the validation
# split (held out of the training images): the test set never takes part in choosing a trial.
OBJECTIVES = {"bound": (m.val(m.ELBO), "maximize"), "iwae": (m.val(m.L0_50), "maximize"),
              "nll": (m.val(m.NLL), "minimize"), "fid": (m.val(m.FID), "minimize"), "kid": (m.val(m.KID), "minimize")}
DENSITY_OBJECTIVES = ("bound", "iwae", "nll")  # in nats of the likelihood: comparable only within one


def check_comparable(objectives: Sequence[str], space: SearchSpace) -> None:
    """Refuses a search that would rank densities of different likelihoods against each other."""
    searched = "likelihood" not in space.fixed and len(set(space.likelihoods)) > 1
    density = [o for o in objectives if o in DENSITY_OBJECTIVES]
    if searched and density:
        raise SearchSpaceError(
            f"search.objectives={list(objectives)} ranks log-densities, and search.space.likelihoods="
            f"{list(space.likelihoods)} would compare densities of different likelihoods (a Beta belief "
            "scores +8000 nats on MNIST by units, not quality). Fix the likelihood (likelihood=bernoulli "
            "or search.space.likelihoods=[bernoulli]) or search with objectives [fid] or [kid].")


class SearchSpaceError(ConfigError):
    """A search space or objective that cannot give a meaningful ranking."""


def _choose(kind: str, options: dict[str, Any], what: str):
    if kind not in options:
        raise UnknownOptionError(f"unknown {what} {kind!r}; valid: {', '.join(sorted(options))}")
    return options[kind]()


def make_sampler(kind: str, seed: int | None, multi_objective: bool) -> optuna.samplers.BaseSampler:
    if multi_objective and kind == "tpe":
        kind = "nsga2"  # TPE handles several objectives too, but NSGA-II is the classic choice
    return _choose(kind, {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True),
        "cmaes": lambda: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                                      independent_sampler=optuna.samplers.TPESampler(seed=seed)),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
        "nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
    }, "search.sampler")


def make_pruner(kind: str, max_epochs: int, startup_trials: int) -> optuna.pruners.BasePruner:
    return _choose(kind, {
        "median": lambda: optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=0),
        "successive_halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(max_epochs, 1)),
        "none": lambda: optuna.pruners.NopPruner(),
    }, "search.pruner")


def make_storage(url: str | None, default_dir: Path, study_name: str, heartbeat_interval: int, grace_period: int,
                 max_retry: int):
    """A journal file by default (safe for processes on one machine), or an RDB URL for many machines."""
    if not url:
        default_dir.mkdir(parents=True, exist_ok=True)
        url = str(default_dir / f"{study_name}.journal")
    if "://" not in url:
        path = str(Path(url).resolve())
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    return _rdb_storage_with_retry(url, heartbeat_interval, grace_period, max_retry)


def _rdb_storage_with_retry(url: str, heartbeat_interval: int, grace_period: int, max_retry: int,
                            attempts: int = 5) -> RDBStorage:
    """Workers started together race to create Optuna's tables in a fresh database; the loser of
    that race gets an IntegrityError and simply tries again once the tables exist."""
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            return RDBStorage(url, heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                              failed_trial_callback=RetryFailedTrialCallback(max_retry=max_retry))
        except (IntegrityError, OperationalError, ProgrammingError) as err:
            if attempt == attempts - 1:
                raise
            log.warning("storage %s not ready (%s); retrying", url, type(err).__name__)
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def recover_stale_trials(study: optuna.Study) -> int:
    """Journal storage has no heartbeat: trials left RUNNING by a dead worker on this host are failed
    and their parameters enqueued again, so a killed worker loses no trial."""
    host, recovered = socket.gethostname(), 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("host") != host or _alive(t.user_attrs.get("pid", -1)):
            continue
        study._storage.set_trial_user_attr(t._trial_id, "killed", True)  # it does not use up a slot
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        if not t.user_attrs.get("retried_from"):
            study.enqueue_trial(t.params, user_attrs={"retried_from": t.number})
        recovered += 1
    return recovered


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


class OverBudget(Exception):
    """This trial started after the study's n_trials slots were all taken (by any worker)."""


def counted_trials(study: optuna.Study) -> list:
    """Trials that use a slot of n_trials: finished (complete, pruned, failed on their own) or running.
    A killed trial (failed by a heartbeat or by a restarted worker) and its retry count once."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.system_attrs.get("failed_trial") for t in trials} | {t.user_attrs.get("retried_from") for t in trials}

    def counts(t) -> bool:
        if t.user_attrs.get("over_budget"):
            return False
        if t.state == TrialState.FAIL:
            return not (t.user_attrs.get("killed") or t.number in retried)
        return t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

    return [t for t in trials if counts(t)]


def admit(trial: optuna.Trial, n_trials: int) -> int:
    """Trial numbers are handed out atomically by the storage: a trial runs only when fewer than
    n_trials counted trials have smaller numbers, so racing workers never exceed n_trials. Returns
    the trial's place in the study (k of n_trials)."""
    ahead = [t for t in counted_trials(trial.study) if t.number < trial.number]
    if len(ahead) >= n_trials:
        trial.set_user_attr("over_budget", True)
        raise OverBudget(f"trial {trial.number}: the study's {n_trials} trials are taken")
    return len(ahead) + 1


def best_so_far(study: optuna.Study) -> str:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return "none yet"
    if len(study.directions) > 1:
        return f"{len(study.best_trials)} on the Pareto front"
    return f"{study.best_value:.3f} (trial {study.best_trial.number})"


class TrialObjective:
    """One trial: suggest the choices, compose train.py's config with them, train, read metrics.json."""

    def __init__(self, cfg: DictConfig, base_overrides: Sequence[str], space: SearchSpace, objectives: Sequence[str]):
        self.cfg, self.base, self.space, self.objectives = cfg, list(base_overrides), space, list(objectives)
        self.prune = len(objectives) == 1 and cfg.search.pruner != "none"

    def trial_config(self, trial: optuna.Trial) -> DictConfig:
        choices = self.space.overrides(trial)
        out_dir = Path(self.cfg.paths.log_dir) / "search" / self.cfg.search.study_name / f"trial_{trial.number:04d}"
        # the test set takes no part in a search: trials evaluate the validation split only
        extra = ["evaluation.test=false"] + (["callbacks=fidelity"] if {"fid", "kid"} & set(self.objectives) else [])
        if "nll" in self.objectives and not self.cfg.evaluation.nll_samples:
            extra.append("evaluation.nll_samples=5000")
        if set(self.objectives) - {"bound"}:  # val/elbo comes from the validation loop itself
            extra.append("evaluation.bounds_on_val=true")
        overrides = [*self.base, *choices, *extra]
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("run_dir", str(out_dir))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        cfg = compose(config_name="train", overrides=[*overrides, f"paths.output_dir={out_dir}"])
        OmegaConf.set_struct(cfg, False)
        cfg.skip_completed = False
        cfg.on_error = "record"
        study = self.cfg.search.study_name
        cfg.search_trial = {"study": study, "number": trial.number}  # dashboards group and label trials by it
        if (cfg.get("logger") or {}).get("wandb") is not None:
            cfg.logger.wandb.group, cfg.logger.wandb.job_type = f"search-{study}", "search-trial"
            cfg.logger.wandb.name = f"{study}-trial_{trial.number:04d}"
        return cfg

    def __call__(self, trial: optuna.Trial):
        from autovae.app.train import run

        place = admit(trial, int(self.cfg.search.n_trials))
        cfg = self.trial_config(trial)
        log.info("trial %d of %d (number %d; best so far: %s): %s", place, int(self.cfg.search.n_trials),
                 trial.number, best_so_far(trial.study), " ".join(o for o in trial.user_attrs["overrides"] if o not in self.base))
        callbacks = []
        if self.prune:
            from optuna_integration import PyTorchLightningPruningCallback

            callbacks.append(PyTorchLightningPruningCallback(trial, monitor=OBJECTIVES[self.objectives[0]][0]))
        result = run(cfg, extra_callbacks=callbacks)  # raises optuna.TrialPruned when pruned
        metrics = result.get("metrics") or {}
        trial.set_user_attr("status", result["status"])
        trial.set_user_attr("metrics", {k: v for k, v in metrics.items() if finite(v)})
        if result["status"] != COMPLETED:
            trial.set_user_attr("error", result.get("error", ""))
            return tuple(float("nan") for _ in self.objectives)  # Optuna records the trial as failed
        values = tuple(float(metrics.get(OBJECTIVES[o][0], float("nan"))) for o in self.objectives)
        return values if len(values) > 1 else values[0]


def run_study(cfg: DictConfig, task_overrides: Sequence[str]) -> optuna.Study:
    s = cfg.search
    objectives = list(s.objectives)
    for o in objectives:
        if o not in OBJECTIVES:
            raise UnknownOptionError(f"unknown search objective {o!r}; valid: {', '.join(OBJECTIVES)}")
    if not cfg.dataset.get("val_size", 1):
        raise ConfigError("the search selects and prunes on the validation split: dataset.val_size=0 leaves "
                          "none; keep a validation split (the default holds out 10000 training images)")
    base = [o for o in task_overrides if not o.lstrip("+~").startswith(("search.", "hydra."))]
    space = SearchSpace(latent_dim=cfg.model.net.latent_dim, fixed=fixed_parts(base),
                        **OmegaConf.to_container(s.space, resolve=True))
    check_comparable(objectives, space)
    storage = make_storage(s.storage, Path(cfg.paths.log_dir) / "search", s.study_name, s.heartbeat_interval,
                           s.grace_period, s.failed_trial_max_retry)
    multi = len(objectives) > 1
    study = optuna.create_study(
        study_name=s.study_name, storage=storage, load_if_exists=True,
        directions=[OBJECTIVES[o][1] for o in objectives],
        sampler=make_sampler(s.sampler, s.seed, multi),
        pruner=make_pruner(s.pruner if not multi else "none", cfg.trainer.max_epochs, s.startup_trials))
    study.set_metric_names(objectives)
    if isinstance(storage, JournalStorage):
        recovered = recover_stale_trials(study)
        if recovered:
            log.warning("re-queued %d trial(s) left running by a dead worker", recovered)
    objective, started = TrialObjective(cfg, base, space, objectives), time.time()
    while len(counted_trials(study)) < s.n_trials and (s.timeout is None or time.time() - started < s.timeout):
        study.optimize(objective, n_trials=1, catch=(OverBudget,), gc_after_trial=True)
    return study
