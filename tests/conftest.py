"""Shared fixtures: the repository's configs, a writable data dir seeded from ../shared/data."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The workplace's shared data and weights; AUTOVAE_TEST_SHARED points elsewhere (a missing folder
# runs the suite as on a machine without them: synthetic datasets, random Inception weights).
SHARED = Path(os.environ.get("AUTOVAE_TEST_SHARED", ROOT.parent / "shared"))
os.environ.setdefault("AUTOVAE_SEED_DATA_DIR", str(SHARED / "data"))  # where train.py copies archives from
REAL_DATA = all((SHARED / "data" / name / "raw").is_dir() for name in ("MNIST", "FashionMNIST"))
CONF = ROOT / "conf"
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# Ray runs its workers at niceness 15: on a machine whose cores are busy (a sweep beside the tests)
# each new worker then waits minutes for CPU and the Ray tests time out. Normal priority for the
# tests' Ray workers (the clusters they start inherit it).
os.environ.setdefault("RAY_worker_niceness", "0")
# Ray >= 2.5x turns on token authentication for a new local cluster and writes ~/.ray/auth_token; a
# later `ray start` then finds the token and its own client is refused by its GCS. The tests' Ray
# clusters run on loopback without authentication and leave the home folder alone.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A writable data dir holding the original MNIST/Fashion-MNIST archives (torchvision extracts
    them), or, where ../shared lacks them, synthetic archives of the same format and sizes."""
    path = Path(os.environ.get("AUTOVAE_TEST_DATA_DIR", tmp_path_factory.mktemp("data")))
    for seed, name in enumerate(("MNIST", "FashionMNIST")):
        src = SHARED / "data" / name / "raw"
        if not REAL_DATA:
            from fake_data import write_mnist_archives

            if not (path / name / "raw" / "t10k-labels-idx1-ubyte").exists():
                write_mnist_archives(path, name, seed=seed)
            continue
        dst = path / name / "raw"
        dst.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if not (dst / f.name).exists():
                shutil.copy2(f, dst / f.name)
    return path


@pytest.fixture(scope="session")
def inception_weights(tmp_path_factory) -> Path:
    """The shared FID weights, or, where ../shared lacks them, torch-fidelity's Inception v3 at its
    random initialisation saved in the same format: the fast path must match torch-fidelity's
    features for any weights, so every FID test runs on either."""
    shared = SHARED / "weights" / "inception-v3-compat-fid-only.pth"
    if shared.exists():
        return shared
    from unittest import mock

    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as tfi

    torch.manual_seed(0)
    with mock.patch.object(tfi, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(tfi.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None):
        net = tfi.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():  # He initialisation keeps the features at unit scale through 94 layers
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("weights") / "inception-v3-compat-random.pth"
    torch.save(net.state_dict(), path)
    return path


def compose(overrides: list[str], config_name: str = "train", return_hydra_config: bool = False):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from autovae.app.resolvers import register

    register()  # as the entry points do before Hydra composes

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=overrides, return_hydra_config=return_hydra_config)


TINY = ["logger=csv", "trainer.accelerator=cpu", "dataset.train_subset=2000", "dataset.val_subset=300",
        "dataset.test_subset=300",
        "dataset.batch_size=100", "trainer.max_epochs=1", "evaluation.bounds=[{alpha: 1.0, samples: 1}]",
        "callbacks.progress_bar=null", "trainer.enable_progress_bar=false"]


def tiny_overrides(data_dir: Path, out: Path, *extra: str) -> list[str]:
    return [*TINY, f"paths.data_dir={data_dir}", f"paths.output_dir={out}", *extra]


def run_cli(script: str, args: list[str], cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", HYDRA_FULL_ERROR="0")
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def markdown_row(md: str, heading: str, pairing: str) -> list[str]:
    """The cells of ``pairing``'s row in the rendered table under ``### <heading>``."""
    section = md.split(f"### {heading}\n", 1)[1].split("\n#", 1)[0]
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == pairing:
            return cells
    raise AssertionError(f"no row {pairing!r} under {heading!r}")


def pytest_collection_modifyitems(config, items):
    """Every test that reads the real datasets (the ``data_dir`` fixture) trains or evaluates end to
    end, so it is ``slow``: ``-m "not slow"`` leaves the quick lane of unit tests (closed forms,
    configs, tables from records, layout)."""
    for item in items:
        if "data_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)

