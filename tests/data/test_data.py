"""Each torchvision dataset's loading path, on small files written here in the original formats."""
import pickle

import numpy as np
import pytest
import torch

from fake_data import write_idx, write_mnist_archives

from autovae.data.datamodule import ImageDataModule, TensorBatches
from autovae.data.datasets import DataNotFoundError, load_split


def fake_kmnist(root, n=12):
    raw = root / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split in ("train", "t10k"):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, (n,)))


def fake_cifar(root, n=6, hundred=False):
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    label_key = "fine_labels" if hundred else "labels"
    batch = lambda: {"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), label_key: [1] * n}  # noqa: E731
    names = ["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        (folder / name).write_bytes(pickle.dumps(batch()))
    meta = {"fine_label_names": ["a"] * 100} if hundred else {"label_names": ["a"] * 10}
    (folder / ("meta" if hundred else "batches.meta")).write_bytes(pickle.dumps(meta))
    return folder


def fake_svhn(root, n=5):
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        savemat(root / f"{split}_32x32.mat", {"X": rng.integers(0, 256, (32, 32, 3, n)).astype(np.uint8),
                                             "y": np.ones((n, 1), dtype=np.uint8)})


def fake_celeba(root, n=6):
    from PIL import Image

    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 256, (218, 178, 3)).astype(np.uint8)).save(folder / "img_align_celeba" / name)
    split_of = lambda i: 0 if i < n // 2 else 2  # noqa: E731  (0 train, 2 test)
    (folder / "list_eval_partition.txt").write_text("".join(f"{m} {split_of(i)}\n" for i, m in enumerate(names)))
    (folder / "identity_CelebA.txt").write_text("".join(f"{m} 1\n" for m in names))
    (folder / "list_attr_celeba.txt").write_text(f"{n}\nSmiling Young\n" + "".join(f"{m} 1 -1\n" for m in names))
    (folder / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{m} 1 2 3 4\n" for m in names))
    (folder / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y\n" + "".join(f"{m} 1 2\n" for m in names))


def test_kmnist_reads_idx_files(tmp_path):
    fake_kmnist(tmp_path)
    images = load_split("kmnist", tmp_path, train=True)
    assert images.shape == (12, 1, 28, 28) and images.dtype == torch.uint8


def test_mnist_archives_without_their_md5_are_extracted_only_when_checksums_are_off(tmp_path):
    raw = write_mnist_archives(tmp_path, "MNIST", sizes={"train": 30, "t10k": 20})
    for extracted in raw.glob("*-ubyte"):
        extracted.unlink()  # only the archives, as a user who copied them by hand has them
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        load_split("mnist", tmp_path, train=True, verify_checksums=True)  # not the originals' md5
    train = load_split("mnist", tmp_path, train=True, verify_checksums=False)
    test = load_split("mnist", tmp_path, train=False, verify_checksums=False)
    assert train.shape == (30, 1, 28, 28) and test.shape == (20, 1, 28, 28) and train.dtype == torch.uint8
    assert (raw / "train-images-idx3-ubyte").exists()  # extracted where torchvision reads MNIST


def test_synthetic_mnist_has_the_originals_layout_sizes_and_split(tmp_path):
    write_mnist_archives(tmp_path, "MNIST")
    dm = ImageDataModule("mnist", str(tmp_path))
    dm.setup()
    assert (len(dm.train_data), len(dm.val_data), len(dm.test_data)) == (50000, 10000, 10000)
    images = load_split("mnist", tmp_path, train=False).float() / 255
    assert 0.03 < images.mean() < 0.3 and (images == 0).float().mean() > 0.5  # dark background, bright strokes


@pytest.mark.parametrize("name,hundred", [("cifar10", False), ("cifar100", True)])
def test_cifar_reads_pickled_batches(tmp_path, name, hundred):
    fake_cifar(tmp_path, hundred=hundred)
    train = load_split(name, tmp_path, train=True, verify_checksums=False)
    test = load_split(name, tmp_path, train=False, verify_checksums=False)
    assert train.shape == ((6 if hundred else 30), 3, 32, 32) and test.shape == (6, 3, 32, 32)


def test_cifar_with_checksums_refuses_hand_made_files(tmp_path):
    fake_cifar(tmp_path)
    with pytest.raises(DataNotFoundError, match=str(tmp_path)):
        load_split("cifar10", tmp_path, train=True, verify_checksums=True)


def test_svhn_reads_mat_files(tmp_path):
    fake_svhn(tmp_path)
    assert load_split("svhn", tmp_path, train=False, verify_checksums=False).shape == (5, 3, 32, 32)


def test_celeba_crops_to_64_and_caches(tmp_path):
    fake_celeba(tmp_path)
    images = load_split("celeba", tmp_path, train=True, verify_checksums=False)
    assert images.shape == (3, 3, 64, 64)
    assert (tmp_path / "celeba" / "train_64x64.pt").exists()
    assert torch.equal(load_split("celeba", tmp_path, train=True, verify_checksums=False), images)


def test_missing_data_names_the_directory(tmp_path, monkeypatch):
    import torchvision.datasets.utils as tvu

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(tvu, "download_url", offline)  # no network, whatever the machine has
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "empty")):
        load_split("mnist", tmp_path / "empty", train=True)


def test_datamodule_binarizes_and_batches_by_index(data_dir):
    dm = ImageDataModule("mnist", str(data_dir), batch_size=64, binarize="static", train_subset=256, test_subset=128)
    dm.setup()
    assert set(dm.train_data.unique().tolist()) == {0.0, 1.0}
    dyn = ImageDataModule("mnist", str(data_dir), batch_size=64, binarize="dynamic", train_subset=256)
    dyn.setup()
    a, b = next(iter(dyn.train_dataloader())), next(iter(dyn.train_dataloader()))
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)  # fresh draws every batch
    batches = list(TensorBatches(torch.arange(10.0), 4, shuffle=False, rank=1, world_size=2))
    assert [b.tolist() for b in batches] == [[1.0, 3.0, 5.0, 7.0], [9.0]]  # rank 1's shard


def test_validation_is_held_out_of_training_and_never_a_test_image(data_dir):
    """val/* drive checkpoints, pruning and the search: they must never see a test image."""
    dm = ImageDataModule("mnist", str(data_dir), batch_size=500, val_size=10000, seed=3)
    dm.setup()
    assert (len(dm.train_data), len(dm.val_data), len(dm.test_data)) == (50000, 10000, 10000)
    def key(images):  # each image's bytes, for uint8 files and [0, 1] float tensors alike
        images = images if images.dtype == torch.uint8 else (images * 255).round().to(torch.uint8)
        return {bytes(row.flatten().numpy()) for row in images}

    train_file = key(load_split("mnist", data_dir, train=True))
    val = key(torch.cat(list(dm.val_dataloader())))
    test_only = key(dm.test_data) - train_file  # MNIST repeats a few images across its two files
    assert val <= train_file and not (val & test_only)
    assert len(val & key(dm.train_data)) < 50  # disjoint up to the training file's own duplicate images
    again = ImageDataModule("mnist", str(data_dir), val_size=10000, seed=3)
    again.setup()
    assert torch.equal(again.val_data, dm.val_data)  # the split is a function of the seed
    other = ImageDataModule("mnist", str(data_dir), val_size=10000, seed=4)
    other.setup()
    assert not torch.equal(other.val_data, dm.val_data)


def test_validation_size_must_leave_training_images(data_dir):
    with pytest.raises(ValueError, match="leaves no training images"):
        ImageDataModule("mnist", str(data_dir), val_size=60000).setup()
    with pytest.raises(ValueError, match="val_size must be a number of training images"):
        ImageDataModule("mnist", str(data_dir), val_size=-1)
    every = ImageDataModule("mnist", str(data_dir), val_size=0)  # the papers' authors trained on all 60,000
    every.setup()
    assert len(every.train_data) == 60000 and len(every.val_data) == 0 and every.val_dataloader() == []


@pytest.mark.slow  # trains end to end; still runs in CI (deselect with -m "not slow")
def test_your_own_arrays_train_end_to_end(tmp_path):
    """dataset=arrays: uint8 (N, H, W) training images in .npy and float channels-last test images in .npz."""
    import json

    from conftest import run_cli

    rng = np.random.default_rng(0)
    train = (rng.random((400, 16, 16)) < 0.3).astype(np.uint8) * 255
    test = (rng.random((50, 16, 16, 1)) < 0.3).astype(np.float32)
    np.save(tmp_path / "train.npy", train)
    np.savez(tmp_path / "test.npz", images=test)
    out = tmp_path / "run"
    proc = run_cli("train.py", ["debug=tiny", "dataset=arrays", f"dataset.train_file={tmp_path / 'train.npy'}",
                                f"dataset.test_file={tmp_path / 'test.npz'}", "dataset.image_shape=[1,16,16]",
                                "dataset.val_size=100", "dataset.train_subset=null", "dataset.val_subset=null",
                                "dataset.test_subset=null", f"paths.data_dir={tmp_path}",
                                f"hydra.run.dir={out}", "callbacks.images=null"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((out / "metrics.json").read_text())
    assert result["status"] == "completed" and result["ran"]["dataset"] == "arrays"
    assert "300 train / 100 validation" in (out / "train.log").read_text()
    assert result["metrics"]["test/elbo"] < 0


def test_array_files_are_checked(tmp_path):
    from autovae.data.datamodule import ArrayDataModule
    from autovae.errors import ConfigError

    np.save(tmp_path / "ok.npy", np.zeros((20, 8, 8), dtype=np.uint8))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}] * 20, dtype=object), allow_pickle=True)
    np.save(tmp_path / "big.npy", np.full((20, 8, 8), 3.0, dtype=np.float32))

    def setup(train, test="ok.npy", shape=(1, 8, 8)):
        ArrayDataModule(str(tmp_path / train), str(tmp_path / test), shape, val_size=5).setup()

    with pytest.raises(ConfigError, match="not a plain array"):
        setup("objects.npy")  # never unpickled
    with pytest.raises(ConfigError, match=r"must lie in \[0, 1\]"):
        setup("big.npy")
    with pytest.raises(ConfigError, match=r"have shape \(1, 8, 8\), but dataset.image_shape is \[1, 9, 8\]"):
        setup("ok.npy", shape=(1, 9, 8))
    with pytest.raises(DataNotFoundError, match="no such file"):
        setup("missing.npy")
    dm = ArrayDataModule(str(tmp_path / "ok.npy"), str(tmp_path / "ok.npy"), (1, 8, 8), val_size=5)
    dm.setup()
    assert dm.train_data.shape == (15, 1, 8, 8) and dm.val_data.shape == (5, 1, 8, 8)


def test_a_registered_dataset_keeps_its_image_shape():
    from autovae.errors import ConfigError

    with pytest.raises(ConfigError, match=r"disagrees with mnist's images \[1, 28, 28\]"):
        ImageDataModule("mnist", "unused", image_shape=[3, 32, 32])
