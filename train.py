"""Train one VAE from the composed Hydra config: `python train.py posterior=logistic prior=normal`."""
import os

import hydra
from omegaconf import DictConfig

from autovae.app.resolvers import register

register()
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage statistics from the Ray launcher


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from autovae.app.cli import exit_if_failed, known_errors, quiet_third_party, results_table
    from autovae.app.train import run

    quiet_third_party()
    with known_errors(cfg.paths.output_dir):
        result = run(cfg)
    if int(os.environ.get("RANK", 0)) == 0:
        print(results_table(result), flush=True)
    exit_if_failed(result)
    return result.get("objective")


if __name__ == "__main__":
    from autovae.app.cli import run_entry_point

    run_entry_point(main)
