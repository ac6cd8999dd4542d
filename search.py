"""AutoVAE search: `python search.py [search.sampler=cmaes] [any train.py override]` runs an Optuna study."""
import os

import hydra
from omegaconf import DictConfig

from autovae.app.resolvers import register

register()
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage statistics from the Ray launcher


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> None:
    import lightning  # noqa: F401  (its console handlers exist before quiet_third_party removes them)
    from hydra.core.hydra_config import HydraConfig

    from autovae.app.cli import known_errors, quiet_third_party
    from autovae.search.report import summary
    from autovae.search.study import run_study

    quiet_third_party()
    with known_errors(None):
        study = run_study(cfg, HydraConfig.get().overrides.task)
    print(summary(study))


if __name__ == "__main__":
    from autovae.app.cli import run_entry_point

    run_entry_point(main)
