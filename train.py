"""Train one VAE from the composed Hydra config: `python train.py posterior=logistic prior=normal`."""
import hydra
from omegaconf import DictConfig

from autovae.resolvers import register

register()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from autovae.train import run

    return run(cfg).get("objective")


if __name__ == "__main__":
    main()
