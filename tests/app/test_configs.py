"""Every option of every config group, and every experiment, composes and resolves (no training)."""
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from conftest import CONF, compose

GROUPS = ["posterior", "prior", "pairing", "divergence", "likelihood", "model", "model/architecture", "dataset",
          "trainer", "logger", "callbacks", "column", "evaluation", "paths", "debug"]
SAFE = ["logger=csv", "trainer.accelerator=cpu", "paths.output_dir=/tmp/autovae-config-test"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


CASES = [(g, o) for g in GROUPS for o in options(g)]


def _resolve(cfg, skip=("logger",)) -> dict:
    return {k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in cfg.items() if k not in skip}


@pytest.mark.parametrize("group,option", CASES, ids=[f"{g}={o}" for g, o in CASES])
def test_every_option_composes(group, option):
    extra = {"posterior": {"cauchy": ["prior=cauchy"]}, "prior": {"gumbel": ["posterior=gumbel"]},
             "dataset": {"arrays": ["dataset.train_file=train.npy", "dataset.test_file=test.npy",
                                    "dataset.image_shape=[1,28,28]"]}}
    cfg = compose([*SAFE, f"{group}={option}", *extra.get(group, {}).get(option, [])])
    resolved = _resolve(cfg, skip=() if group != "logger" else ("logger",))
    assert resolved["model"]["_target_"] == "autovae.lightning.module.AutoVAEModule"
    assert resolved["model"]["net"]["_target_"].startswith("autovae.models.")
    if group in ("posterior", "prior", "pairing", "divergence", "likelihood", "model", "column"):
        model = instantiate(cfg.model)  # builds the networks, the pairing and the objective
        assert model.describe()["latent_dim"] == cfg.model.net.latent_dim


EXPERIMENTS = options("experiment")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    """What an experiment file says is what composes, and every job of its sweep builds its model and
    datamodule (as lightning-hydra-template's config tests instantiate what they compose)."""
    cfg = compose([*SAFE, f"experiment={experiment}"], return_hydra_config=True)
    resolved = _resolve(cfg, skip=("logger", "hydra"))
    # every experiment holds out validation images, except the HEBAE authors' protocol (all 60,000)
    assert resolved["dataset"]["val_size"] >= 1 or experiment == "hebae_official"
    written = OmegaConf.to_container(OmegaConf.load(CONF / "experiment" / f"{experiment}.yaml"))
    for key, value in _leaves({k: v for k, v in written.items() if k not in ("defaults", "hydra")}):
        assert OmegaConf.select(cfg, key) == value or isinstance(value, str) and "${" in value, (key, value)
    sweep = {k: str(v).split(",") for k, v in (cfg.hydra.sweeper.params or {}).items()}
    # each value of each swept key, the others at their first value (a single run: the experiment itself)
    jobs = [[*(f"{k}={v[0]}" for k, v in sweep.items() if k != key), f"{key}={value}"]
            for key, values in sweep.items() for value in values] or [[]]
    for job_overrides in jobs:
        job = compose([*SAFE, f"experiment={experiment}", *job_overrides])
        model = instantiate(job.model)
        assert model.describe()["latent_dim"] == job.model.net.latent_dim, job_overrides
        assert instantiate(OmegaConf.to_container(job.dataset, resolve=True)).batch_size == job.dataset.batch_size


def _leaves(node, prefix=""):
    for k, v in node.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def test_every_launcher_and_the_search_config_compose():
    for launcher in sorted(p.stem for p in (CONF / "hydra" / "launcher").glob("*.yaml")):
        cfg = compose([*SAFE, f"hydra/launcher={launcher}"], return_hydra_config=True)
        assert cfg.hydra.launcher._target_
    search = compose(SAFE, config_name="search")
    assert list(search.search.space.likelihoods) == ["bernoulli"]


def test_the_dataset_configs_share_one_base():
    for name in options("dataset"):
        text = (CONF / "dataset" / f"{name}.yaml").read_text()
        assert "base/image@_here_" in text, name
        target = OmegaConf.create(text).get("_target_")  # a dataset may use a subclass of the base's module
        if target:
            from hydra.utils import get_class

            from autovae.data.datamodule import ImageDataModule
            assert issubclass(get_class(target), ImageDataModule), name
    assert Path(CONF / "dataset" / "base" / "image.yaml").exists()
