"""End to end: configs compose, runs train, the loss falls, results land in the run directory."""
import csv
import json

import pytest
from conftest import compose, run_cli, tiny_overrides

from autovae.app.train import run
from autovae.distributions.pairing import InfiniteKLError

LIKELIHOODS = ["bernoulli", "continuous_bernoulli", "mse", "mae", "normal", "laplace", "beta"]


def train_losses(out):
    with open(out / "csv" / "metrics.csv") as f:
        return [float(r["train/loss"]) for r in csv.DictReader(f) if r.get("train/loss")]


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_mismatched_pair_trains_with_each_likelihood(likelihood, data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "posterior=logistic", "prior=laplace",
                                 f"likelihood={likelihood}", "trainer.max_epochs=2", "trainer.log_every_n_steps=1"))
    result = run(cfg)
    assert result["status"] == "completed", result.get("error")
    losses = train_losses(tmp_path)
    assert len(losses) >= 30
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5  # the loss falls
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["config"]["likelihood"]["_target_"].endswith(
        {"mse": "FixedScaleNormal", "mae": "FixedScaleLaplace"}.get(likelihood, ""))
    assert saved["pairing"] == [{"pair": "Lo||La", "posterior": "logistic", "prior": "laplace", "dims": 20,
                                 "fraction": 1.0}]
    for key in ("val/elbo", "val/recon_at_mean", "test/bound_a1_k1", "test/recon_at_mean", "test/recon_expected"):
        assert key in saved["metrics"]
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()


def test_renyi_and_mixture_pairing_train(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "pairing=mixture", "divergence=renyi",
                                 "divergence.alpha=0.5", "divergence.samples=5"))
    result = run(cfg)
    assert result["status"] == "completed"
    assert [g["dims"] for g in result["pairing"]] == [10, 6, 4]


def test_infinite_kl_pair_is_refused_before_anything_is_written(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "posterior=cauchy", "prior=normal"))
    with pytest.raises(InfiniteKLError, match="infinite"):
        run(cfg)
    assert not (tmp_path / "metrics.json").exists()  # nothing that would refuse the corrected run
    assert run(compose(tiny_overrides(data_dir, tmp_path, "posterior=cauchy", "prior=cauchy")))["status"] == "completed"


def test_diverging_run_is_marked_failed(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "model.optimizer.lr=1e12", "model.nan_check_every=1",
                                 "likelihood=normal"))
    result = run(cfg)
    assert result["status"] == "failed" and result["reason"] == "diverged"
    assert json.loads((tmp_path / "metrics.json").read_text())["status"] == "failed"


def test_completed_run_is_skipped_when_rerun(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path))
    first = run(cfg)
    again = run(cfg)
    assert again["finished"] == first["finished"]  # not trained a second time


def test_cli_train_and_multirun_survives_a_diverging_job(data_dir, tmp_path):
    common = [a for a in tiny_overrides(data_dir, tmp_path) if not a.startswith("paths.output_dir")]
    proc = run_cli("train.py", [*common, "posterior=logistic", "prior=normal", f"paths.log_dir={tmp_path}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = list((tmp_path / "runs").glob("*/metrics.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["status"] == "completed"
    proc = run_cli("train.py", ["-m", *common, "model.nan_check_every=1", "likelihood=normal",
                                "model.optimizer.lr=1e-3,1e12", f"paths.log_dir={tmp_path}", "sweep_name=s"])
    assert proc.returncode == 1, proc.stderr[-3000:]  # every job ran; the exit status says one failed
    assert "1 of 2 jobs did not complete" in proc.stderr
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in (tmp_path / "multirun" / "s").glob("*/metrics.json")}
    assert sorted(status.values()) == ["completed", "failed"], status


def test_cli_unknown_option_lists_the_valid_ones(tmp_path):
    proc = run_cli("train.py", ["posterior=studentt", f"paths.log_dir={tmp_path}"])
    assert proc.returncode != 0
    assert "studentt" in proc.stderr and "logistic" in proc.stderr and "cauchy" in proc.stderr


def test_cli_bad_mixture_fractions_are_refused(tmp_path, data_dir):
    proc = run_cli("train.py", ["pairing=mixture", "logger=csv", f"paths.data_dir={data_dir}",
                                "pairing.components=[{posterior: logistic, prior: normal, fraction: 0.7},"
                                "{posterior: laplace, prior: normal, fraction: 0.7}]", f"paths.log_dir={tmp_path}"])
    assert proc.returncode != 0 and "sum to 1" in proc.stderr


def test_resumed_run_ends_where_an_uninterrupted_one_ends(data_dir, tmp_path):
    straight = run(compose(tiny_overrides(data_dir, tmp_path / "straight", "trainer.max_epochs=3")))
    run(compose(tiny_overrides(data_dir, tmp_path / "resumed", "trainer.max_epochs=1")))
    resumed = run(compose(tiny_overrides(data_dir, tmp_path / "resumed", "trainer.max_epochs=3",
                                         "skip_completed=false")))  # continues from checkpoints/last.ckpt
    assert resumed["epochs"] == straight["epochs"] == 3
    for key in ("val/elbo", "val/recon_at_mean", "test/recon_at_mean", "test/bound_a1_k1", "test/kl"):
        assert resumed["metrics"][key] == pytest.approx(straight["metrics"][key], rel=1e-6), key
    # the CSV history of the first start is kept, and each epoch appears once
    epochs = lambda out: sorted({r["epoch"] for r in csv.DictReader(open(out / "csv" / "metrics.csv")) if r.get("val/elbo")})  # noqa: E731
    assert epochs(tmp_path / "resumed") == epochs(tmp_path / "straight") == ["0", "1", "2"]


def test_test_metrics_mean_what_their_names_say(data_dir, tmp_path):
    cfg = compose(tiny_overrides(data_dir, tmp_path, "trainer.max_epochs=2", "callbacks.images=null",
                                 "evaluation.bounds=[{alpha: 1.0, samples: 1}, {alpha: 0.0, samples: 20}]",
                                 "evaluation.nll_samples=200", "evaluation.nll_images=120"))
    m = run(cfg)["metrics"]
    # the NLL is positive nats: -L_{0,K}, below -L_{0,20} and -L_{1,1} up to noise on its 120 images
    assert m["test/nll"] > 0 and m["test/nll"] < -m["test/bound_a1_k1"] + 2
    # E_q of the reconstruction plus the KL is exactly the negative ELBO of the same samples
    assert m["test/recon_expected"] + m["test/kl"] == pytest.approx(-m["test/elbo"], rel=1e-5)
    assert m["test/bound_a0_k20"] >= m["test/bound_a1_k1"]


def test_nll_covers_only_the_first_nll_images(data_dir, tmp_path):
    """The NLL of the first 100 images equals that of a run whose test set is those 100 images."""
    results = {}
    for name, extra in (("first", ["evaluation.nll_images=100"]), ("subset", ["dataset.test_subset=100"])):
        out = tmp_path / name
        cfg = compose(tiny_overrides(data_dir, out, "trainer.max_steps=3", "callbacks.images=null",
                                     "evaluation.bounds=[]", "evaluation.nll_samples=30", "dataset.eval_batch_size=50",
                                     *extra))
        results[name] = run(cfg)["metrics"]["test/nll"]
    assert results["first"] == pytest.approx(results["subset"], rel=1e-6)


def test_the_debug_preset_trains_end_to_end_in_seconds(data_dir, tmp_path):
    proc = run_cli("train.py", ["debug=tiny", "trainer.accelerator=cpu", f"paths.data_dir={data_dir}",
                                f"hydra.run.dir={tmp_path}", "posterior=logistic"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["status"] == "completed" and saved["epochs"] == 2
    assert saved["config"]["dataset"]["train_subset"] == 2000 and saved["duration_s"] < 120
    assert (tmp_path / "images" / "samples_final.png").exists()


def test_the_run_summary_names_the_metrics_json_key_of_every_figure():
    """The one-sample Monte Carlo L_{1,1} and the closed-form-KL ELBO differ: neither is shown under the other's name."""
    from autovae.app.cli import results_table

    text = results_table({"status": "completed", "run_dir": "x", "ran": {"split": {"nll_samples": 5000}}, "metrics": {
        "test/elbo": -523.4, "test/bound_a1_k1": -710.6, "test/bound_a0_k5": -600.0, "test/nll": 590.0}})
    lines = {line.split()[-1]: line for line in text.splitlines()[1:-1]}
    assert "closed-form KL" in lines["test/elbo"] and "-523.40" in lines["test/elbo"]
    assert "Monte Carlo" in lines["test/bound_a1_k1"] and "-710.60" in lines["test/bound_a1_k1"]
    assert "-600.00" in lines["test/bound_a0_k5"] and "L_{0,5}" in lines["test/bound_a0_k5"]
    assert "L_{0,5000}" in lines["test/nll"]  # K filled in
