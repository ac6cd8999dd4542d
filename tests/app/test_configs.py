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
    cfg = compose([*SAFE, f"experiment={experiment}"])
    resolved = _resolve(cfg)
    assert resolved["trainer"]["max_epochs"] >= 1
    # every experiment holds out validation images, except the HEBAE authors' protocol (all 60,000)
    assert resolved["dataset"]["val_size"] >= 1 or experiment == "hebae_official"


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
