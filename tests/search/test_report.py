import optuna
import pytest
from conftest import ROOT
from hydra import compose, initialize_config_dir
from optuna.distributions import FloatDistribution

from autovae.app.resolvers import register
from autovae.search.report import SEARCHED_COLUMN, write_report

COMPONENTS = [{"posterior": "logistic", "prior": "normal", "fraction": 0.6},
              {"posterior": "laplace", "prior": "laplace", "fraction": 0.4}]


def study_with(trials: list[tuple[float, list[dict]]]) -> optuna.Study:
    study = optuna.create_study(study_name="auto_b", direction="maximize")
    for value, comps in trials:
        study.add_trial(optuna.trial.create_trial(
            value=value, params={"w": 0.5}, distributions={"w": FloatDistribution(0, 1)},
            user_attrs={"pairing": comps, "overrides": ["pairing=mixture", "divergence=kl"]}))
    return study


def compose_column(folder, *overrides):
    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=[f"hydra.searchpath=[file://{folder}]", *overrides],
                       return_hydra_config=True)


def test_the_best_trials_pairing_becomes_a_column_that_composes_beside_the_fixed_ones(tmp_path):
    worse = [{"posterior": "normal", "prior": "normal", "fraction": 1.0}]
    write_report(study_with([(-120.0, worse), (-110.0, COMPONENTS)]), tmp_path)
    assert (tmp_path / "column" / f"{SEARCHED_COLUMN}.yaml").exists()
    cfg = compose_column(tmp_path, "experiment=table_b", f"column={SEARCHED_COLUMN}")
    assert cfg.column == "Auto" and cfg.hydra.runtime.choices.pairing == "mixture"
    assert [dict(c) for c in cfg.pairing.components] == COMPONENTS  # the best trial's, not the worse one's
    fixed = compose_column(tmp_path, "experiment=table_b", "column=N_N")  # the same search path, a fixed column
    assert fixed.column == "N||N" and fixed.hydra.runtime.choices.pairing == "uniform"


def test_no_column_is_written_without_a_searched_pairing(tmp_path):
    write_report(study_with([(-110.0, [])]), tmp_path)
    assert not (tmp_path / "column").exists()
    with pytest.raises(Exception, match=SEARCHED_COLUMN):
        compose_column(tmp_path, f"column={SEARCHED_COLUMN}")


def test_importances_are_of_pair_types_not_of_latent_indices():
    """pair_00 ... pair_19 are interchangeable slots: the importance is of each pair type's fraction."""
    import random

    import optuna

    from autovae.search.report import importances
    from autovae.search.space import SearchSpace

    space, rng = SearchSpace(latent_dim=6, pairs=["normal||normal", "logistic||normal", "laplace||normal"]), random.Random(0)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        trial = study.ask()
        space.overrides(trial)
        logistic = sum(c["fraction"] for c in trial.user_attrs["pairing"] if c["posterior"] == "logistic")
        study.tell(trial, 10 * logistic + 0.01 * rng.random())  # only the logistic fraction matters
    for name, values in importances(study).items():
        assert not any(k.startswith("pair_") for k in values), name
        assert max(values, key=values.get) == "fraction logistic||normal", (name, values)
