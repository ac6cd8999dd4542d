"""The AutoVAE seed's setup (MLP 3 x 400, 20 latents, batch 1000, Adam 1e-4, Bernoulli, N||N on
MNIST), composed from ``conf/`` with ``experiment=autovae_mnist``: the one home of these values."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from benchmarks.common import ROOT

EXPERIMENT = "experiment=autovae_mnist"


def compose_seed(*overrides: str):
    """train.py's config for the seed's experiment with ``overrides``."""
    from hydra import compose, initialize_config_dir

    from autovae.app.resolvers import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=[EXPERIMENT, *overrides])


@dataclass(frozen=True)
class Seed:
    hidden: tuple[int, ...]
    latent: int
    batch: int
    lr: float
    image_shape: tuple[int, ...]

    @property
    def pixels(self) -> int:
        c, h, w = self.image_shape
        return c * h * w


@cache
def seed() -> Seed:
    cfg = compose_seed()
    net = cfg.model.net
    return Seed(hidden=tuple(net.architecture.hidden), latent=int(net.latent_dim), batch=int(cfg.dataset.batch_size),
                lr=float(cfg.model.optimizer.lr), image_shape=tuple(cfg.dataset.image_shape))


def seed_model(device):
    """The seed's model as train.py builds it, untrained."""
    from hydra.utils import instantiate

    return instantiate(compose_seed().model.net).to(device)


def seed_data(data_dir: str, subset: int):
    """The seed's datamodule (its validation split held out) on ``subset`` training and 1000 test images."""
    from autovae.data import datamodule_from

    dm = datamodule_from(compose_seed(f"paths.data_dir={data_dir}", f"dataset.train_subset={subset}",
                                      "dataset.test_subset=1000"))
    dm.setup()
    return dm
