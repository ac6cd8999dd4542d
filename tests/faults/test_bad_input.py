"""Bad values and bad data: found before anything is written, said in a line or two, and never in the
way of the corrected run."""
import pytest
from conftest import REAL_DATA, compose, run_cli, tiny_overrides

from autovae.app.train import run

FAST = ("trainer.max_epochs=1", "callbacks.images=null")
MIXTURE = "pairing.components=[{{posterior: logistic, prior: normal, fraction: {a}}},{{posterior: laplace, prior: normal, fraction: {b}}}]"


@pytest.mark.parametrize("bad,good,named", [
    (["divergence=renyi", "divergence.alpha=nan"], ["divergence=renyi", "divergence.alpha=0.5"], "divergence.alpha=nan"),
    (["divergence.samples=0"], ["divergence.samples=1"], "divergence.samples=0"),
    (["pairing=mixture", MIXTURE.format(a=0.5, b=0.4)], ["pairing=mixture", MIXTURE.format(a=0.5, b=0.5)], "sum to 1"),
    (["posterior=cauchy", "prior=normal"], ["posterior=cauchy", "prior=cauchy"], "infinite"),
])
def test_a_value_found_only_while_building_is_one_line_and_blocks_nothing(data_dir, tmp_path, bad, good, named):
    out = tmp_path / "run"
    proc = run_cli("train.py", [*tiny_overrides(data_dir, out, *FAST, *bad), f"hydra.run.dir={out}"])
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("autovae: ") and named in lines[0], lines
    assert "Error in call to target" not in proc.stderr and "Error executing job" not in proc.stderr
    assert not (out / "metrics.json").exists()
    corrected = run(compose(tiny_overrides(data_dir, out, *FAST, *good)))  # the same folder takes the fix
    assert corrected["status"] == "completed"


def test_a_run_folder_that_cannot_exist_is_one_line(data_dir, tmp_path):
    proc = run_cli("train.py", [*tiny_overrides(data_dir, tmp_path, *FAST), "hydra.run.dir=/proc/autovae-run"])
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("autovae: cannot write to /proc/autovae-run"), lines


def test_a_damaged_extracted_file_beside_an_intact_archive_is_extracted_again(data_dir, tmp_path, caplog):
    from autovae.data.datamodule import ImageDataModule

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_dir / "MNIST" / "raw").glob("*.gz"):
        (raw / f.name).write_bytes(f.read_bytes())
    kw = dict(val_size=100, train_subset=10, verify_checksums=REAL_DATA)  # synthetic archives have no known md5
    ImageDataModule("mnist", str(tmp_path), **kw).setup()  # extracts the archives
    extracted = raw / "train-images-idx3-ubyte"
    extracted.write_bytes(extracted.read_bytes()[:5000])  # a disk that filled up, a kill during extraction
    dm = ImageDataModule("mnist", str(tmp_path), **kw)
    dm.setup()
    assert len(dm.train_data) == 10 and extracted.stat().st_size == 47040016
    assert f"{extracted} is damaged" in caplog.text


def test_no_logger_with_a_learning_rate_schedule_trains(data_dir, tmp_path):
    cfg = compose([*tiny_overrides(data_dir, tmp_path, *FAST), "logger=none",
                   "+model.scheduler={_target_: torch.optim.lr_scheduler.ExponentialLR, _partial_: true, gamma: 0.995}"])
    assert run(cfg)["status"] == "completed"
