"""Dashboards: a run logs what a dashboard filters on to every logger (W&B, TensorBoard, CSV), and
`make table wandb=...` files the runs a W&B project holds from exactly that record."""
import json
from types import SimpleNamespace

import yaml
from conftest import compose, tiny_overrides

from autovae.app.train import run
from autovae.paper.collect import collect_wandb


class FakeApi:
    """wandb.Api's ``runs`` for a project, holding what autovae logged (W&B's own service is not reachable here)."""

    def __init__(self, runs):
        self._runs = runs

    def runs(self, project):
        return self._runs


def test_logged_config_filters_on_the_beliefs_and_files_the_run_in_its_table(data_dir, tmp_path):
    out = tmp_path / "run"
    result = run(compose(tiny_overrides(data_dir, out, "posterior=logistic", "column=Lo_N", "seed=3")))
    assert result["status"] == "completed"
    logged = yaml.safe_load((out / "csv" / "hparams.yaml").read_text())
    assert {k: logged[k] for k in ("posterior", "prior", "pairing", "divergence", "likelihood", "model", "dataset",
                                   "seed")} == {"posterior": "logistic", "prior": "normal", "pairing": "Lo||N",
                                                "divergence": "kl", "likelihood": "Bernoulli", "model": "VAE",
                                                "dataset": "mnist", "seed": 3}
    assert logged["alpha"] == 1.0 and logged["K"] == 1 and logged["beta"] == 1.0
    summary = json.loads((out / "metrics.json").read_text())["metrics"]
    runs = [SimpleNamespace(config=logged, summary=summary, state="finished", path=["me", "autovae", "abc"]),
            SimpleNamespace(config={"lr": 1e-3}, summary={}, state="finished", path=["me", "autovae", "old"])]
    collection = collect_wandb("me/autovae", protocol=False, api=FakeApi(runs))
    [record] = collection.records
    assert (record.table, record.column, record.status) == ("b", "Lo||N", "completed")
    assert record.values["bound"] == summary["test/bound_a1_k1"]
    assert any("old: no autovae config logged" in p for p in collection.problems)


def test_tensorboard_shows_the_run_locally(data_dir, tmp_path):
    """logger=tensorboard: scalars, one image per grid and the dashboard config, with no account."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "run"
    result = run(compose(tiny_overrides(data_dir, out, "logger=tensorboard", "callbacks.images.every_n_epochs=1")))
    assert result["status"] == "completed"
    tags = {"scalars": set(), "images": set()}
    for events in (out / "tensorboard").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0})
        acc.Reload()
        for kind in tags:
            tags[kind] |= set(acc.Tags()[kind])
    assert {"val/elbo", "train/loss", "test/bound_a1_k1"} <= tags["scalars"]
    assert {"images/samples", "images/reconstructions", "images/traversals", "images/interpolations"} <= tags["images"]
    assert yaml.safe_load((out / "tensorboard" / "hparams.yaml").read_text())["posterior"] == "normal"
    # the hparams view: the run's beliefs and status as hyperparameters, beside its scalars
    from tensorboard.plugins.hparams import plugin_data_pb2

    data = {}
    for events in (out / "tensorboard").glob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events))
        acc.Reload()
        try:
            found = acc.PluginTagToContent("hparams")
        except KeyError:  # an event file without the hparams summaries
            continue
        for tag, content in found.items():
            data[tag] = plugin_data_pb2.HParamsPluginData.FromString(content)
    start = data["_hparams_/session_start_info"].session_start_info.hparams
    assert start["posterior"].string_value == "normal" and start["status"].string_value == "completed"
    assert start["latent_dim"].number_value == result["config"]["model"]["net"]["latent_dim"]
    assert data["_hparams_/session_end_info"].session_end_info.status  # the session is closed
    # no experiment summary: TensorBoard then builds one from every run and shows what differs first
    assert "_hparams_/experiment" not in data
