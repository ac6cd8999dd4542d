"""A LightningDataModule over in-memory image tensors, batched by index.

No DataLoader workers and no per-sample collation: a batch is one ``tensor[index]``. The tensors
move to the training device once (``on_device``), and dynamic binarization draws on the batch.
"""
from __future__ import annotations

import logging
import hashlib
from pathlib import Path
from typing import Callable, Sequence

import lightning as L
import torch

from autovae.data.datasets import IMAGE_SHAPES, LOADERS, load_array, load_split, preparing, seed_from
from autovae.errors import ConfigError, UnknownOptionError
from autovae.seeds import binarization_seed, derived_seed

log = logging.getLogger(__name__)
BINARIZATIONS = ("none", "static", "dynamic")
_SEED_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "kmnist": "KMNIST"}


class TensorBatches:
    """Iterates over mini-batches of a tensor, shuffled per epoch, sharded across DDP ranks."""

    def __init__(self, data: torch.Tensor, batch_size: int, shuffle: bool, dynamic_binarize: bool = False,
                 drop_last: bool = False, seed: int = 0, rank: int = 0, world_size: int = 1,
                 epoch_fn: Callable[[], int] | None = None):
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.dynamic_binarize, self.drop_last = dynamic_binarize, drop_last
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch_fn, self._passes = epoch_fn, 0

    def _indices(self) -> torch.Tensor:
        # The order is a function of (seed, epoch), so a run resumed at epoch e sees what it would have.
        epoch = self.epoch_fn() if self.epoch_fn else self._passes
        self._passes += 1
        n = self.data.shape[0]
        generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch))
        idx = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        return idx[self.rank::self.world_size].to(self.data.device)

    def __len__(self) -> int:
        n = -(-self.data.shape[0] // self.world_size)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        for batch_idx in self._indices().split(self.batch_size):
            if self.drop_last and batch_idx.numel() < self.batch_size:
                return
            batch = self.data[batch_idx]
            yield torch.bernoulli(batch) if self.dynamic_binarize else batch


class ImageDataModule(L.LightningDataModule):
    def __init__(self, name: str, data_dir: str, batch_size: int = 1000, eval_batch_size: int | None = None,
                 binarize: str = "none", seed_dir: str | None = None, verify_checksums: bool = True,
                 train_subset: int | None = None, test_subset: int | None = None, on_device: bool = True,
                 seed: int = 0, val_size: int = 10000, val_subset: int | None = None,
                 image_shape: Sequence[int] | None = None):
        super().__init__()
        self._check_source(name)
        if binarize not in BINARIZATIONS:
            raise UnknownOptionError(f"unknown binarize={binarize!r}; valid: {', '.join(BINARIZATIONS)}")
        self.name, self.data_dir, self.seed_dir = name, Path(data_dir), seed_dir
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size or batch_size
        self.binarize, self.verify_checksums, self.on_device = binarize, verify_checksums, on_device
        self.train_subset, self.test_subset, self.seed = train_subset, test_subset, seed
        if val_size is None or int(val_size) < 0:
            raise ValueError(f"dataset.val_size must be a number of training images (0: no validation split), "
                             f"got {val_size!r}")
        self.val_size, self.val_subset = int(val_size), val_subset
        self.image_shape = self._shape(name, image_shape)
        self.train_data: torch.Tensor | None = None
        self.val_data: torch.Tensor | None = None
        self.test_data: torch.Tensor | None = None

    @staticmethod
    def _check_source(name: str) -> None:
        if name not in LOADERS:
            raise UnknownOptionError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(LOADERS))}")

    @staticmethod
    def _shape(name: str, image_shape: Sequence[int] | None) -> tuple[int, ...]:
        registered = IMAGE_SHAPES.get(name)
        if image_shape is not None and registered is not None and tuple(image_shape) != tuple(registered):
            raise ConfigError(f"dataset.image_shape={list(image_shape)} disagrees with {name}'s images "
                              f"{list(registered)}")
        return tuple(image_shape if image_shape is not None else registered)

    @property
    def fingerprint(self) -> str:
        """What identifies these images across runs (a cache of their features is keyed by it)."""
        return self.name

    def _load(self, train: bool) -> torch.Tensor:
        return load_split(self.name, self.data_dir, train, self.verify_checksums)

    def prepare_data(self) -> None:
        if self.name in _SEED_FOLDERS:
            seed_from(self.seed_dir, self.data_dir, _SEED_FOLDERS[self.name])

    def _to_float(self, images: torch.Tensor, subset: int | None, static_seed: int) -> torch.Tensor:
        if subset:
            images = images[:subset]
        x = images.float() if images.is_floating_point() else images.float().div_(255.0)
        if self.binarize == "static":
            x = torch.bernoulli(x, generator=torch.Generator().manual_seed(static_seed))
        return x

    def split_indices(self, n_train_images: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(train, validation) indices into the training file: a permutation fixed by the seed.

        The validation images are held out from the training images, never taken from the test set,
        so model selection (checkpoints, pruning, the search) never sees a test image.
        """
        if self.val_size >= n_train_images:
            raise ValueError(f"dataset.val_size={self.val_size} leaves no training images "
                             f"({self.name} has {n_train_images}); choose fewer")
        perm = torch.randperm(n_train_images, generator=torch.Generator().manual_seed(self.seed))
        return perm[self.val_size:], perm[:self.val_size]

    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:
            return
        with preparing(self.data_dir):  # the jobs of a sweep share the data folder
            self.prepare_data()
            images, test_images = self._load(True), self._load(False)
        for what, loaded in (("training", images), ("test", test_images)):
            if tuple(loaded.shape[1:]) != self.image_shape:
                raise ConfigError(f"{self.name}: the {what} images have shape {tuple(loaded.shape[1:])}, but "
                                  f"dataset.image_shape is {list(self.image_shape)}")
        train_idx, val_idx = self.split_indices(len(images))
        self.train_data = self._to_float(images[train_idx], self.train_subset, binarization_seed(self.seed, "train"))
        self.val_data = self._to_float(images[val_idx], self.val_subset, binarization_seed(self.seed, "val"))
        self.test_data = self._to_float(test_images, self.test_subset, binarization_seed(self.seed, "test"))
        device = self._device()
        if device is not None and device.type != "cpu":
            self.train_data, self.val_data, self.test_data = (t.to(device) for t in
                                                              (self.train_data, self.val_data, self.test_data))
        log.info("%s: %d train / %d validation (held out of train; 0: none) / %d test images of shape %s on %s", self.name,
                 len(self.train_data), len(self.val_data), len(self.test_data), tuple(self.image_shape),
                 self.train_data.device)

    def _device(self) -> torch.device | None:
        if not self.on_device or self.trainer is None:
            return None
        return self.trainer.strategy.root_device

    def _ranks(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return self.trainer.global_rank, self.trainer.world_size

    def train_dataloader(self) -> TensorBatches:
        rank, world = self._ranks()
        epoch_fn = (lambda: self.trainer.current_epoch) if self.trainer is not None else None
        return TensorBatches(self.train_data, self.batch_size, shuffle=True, dynamic_binarize=self.binarize == "dynamic",
                             seed=self.seed, rank=rank, world_size=world, epoch_fn=epoch_fn)

    def _eval_loader(self, data: torch.Tensor, binarize_seed: int) -> TensorBatches:
        rank, world = self._ranks()
        # Evaluation binarizes with a fixed seed so that metrics are comparable across runs.
        if self.binarize == "dynamic":
            data = torch.bernoulli(data.cpu(), generator=torch.Generator().manual_seed(binarize_seed)).to(data.device)
        return TensorBatches(data, self.eval_batch_size, shuffle=False, rank=rank, world_size=world)

    def val_dataloader(self) -> TensorBatches | list:
        # val_size=0 trains on every training image (the HEBAE authors' protocol): Lightning then
        # skips validation, and nothing is selected or pruned on held-out images.
        if not self.val_size:
            return []
        return self._eval_loader(self.val_data, binarization_seed(self.seed, "val"))

    def test_dataloader(self) -> TensorBatches:
        return self._eval_loader(self.test_data, binarization_seed(self.seed, "test"))


class ArrayDataModule(ImageDataModule):
    """Your own images from array files: ``.npy``, ``.npz`` (one array, or the key ``images``) or ``.pt`` (a
    tensor), uint8 in 0-255 or floats in [0, 1], shaped (N, H, W), (N, C, H, W) or (N, H, W, C).
    Validation images are held out of ``train_file`` as for any dataset; ``test_file`` is the test set."""

    def __init__(self, train_file: str, test_file: str, image_shape: Sequence[int], name: str = "arrays", **kwargs):
        self.train_file, self.test_file = Path(train_file), Path(test_file)
        kwargs.setdefault("data_dir", str(self.train_file.parent))
        super().__init__(name=name, image_shape=image_shape, **kwargs)

    @staticmethod
    def _check_source(name: str) -> None:
        pass  # the images come from the files, not from a registered loader

    @staticmethod
    def _shape(name: str, image_shape: Sequence[int] | None) -> tuple[int, ...]:
        if image_shape is None or len(image_shape) != 3:
            raise ConfigError(f"dataset.image_shape must be [channels, height, width], got {image_shape!r}")
        return tuple(int(d) for d in image_shape)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha1()
        with open(self.test_file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return f"{self.name}-{digest.hexdigest()[:16]}"

    def prepare_data(self) -> None:
        pass

    def _load(self, train: bool) -> torch.Tensor:
        return load_array(self.train_file if train else self.test_file, self.image_shape)
