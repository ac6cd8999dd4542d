"""Image datasets through torchvision, read once into uint8 tensors (N, C, H, W).

Each loader is registered by name; ``load_split(name, root, train)`` returns the images. The
training loop never decodes a sample: it indexes these tensors.
"""
from __future__ import annotations

import contextlib
import fcntl
import filecmp
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from autovae.errors import ConfigError, DataNotFoundError, UnknownOptionError

log = logging.getLogger(__name__)
LOADERS: dict[str, Callable[[Path, bool, bool], torch.Tensor]] = {}
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {}


def register_dataset(name: str, image_shape: tuple[int, int, int]):
    def decorate(fn):
        LOADERS[name] = fn
        IMAGE_SHAPES[name] = image_shape
        return fn

    return decorate


def load_split(name: str, root: str | Path, train: bool, verify_checksums: bool = True) -> torch.Tensor:
    if name not in LOADERS:
        raise UnknownOptionError(f"unknown dataset {name!r}; valid datasets: {', '.join(sorted(LOADERS))}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return LOADERS[name](root, train, verify_checksums)
    except DataNotFoundError:
        raise
    except (RuntimeError, OSError) as err:  # torchvision's "not found" / failed download
        raise DataNotFoundError(
            f"{name}: could not read or download the data under {root.resolve()} ({err}). Without network, "
            f"place the original files there as torchvision lays them out (see docs/configuration.md, 'Data').") from err


def load_array(path: str | Path, image_shape: tuple[int, ...]) -> torch.Tensor:
    """Images from an array file, laid out (N, C, H, W): uint8 stays uint8, floats must lie in [0, 1].

    Nothing is unpickled: ``.npy``/``.npz`` load with allow_pickle=False, ``.pt`` with weights_only=True."""
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file (dataset.train_file / dataset.test_file)")
    try:
        if path.suffix == ".pt":
            array = torch.load(path, map_location="cpu", weights_only=True)
        else:
            loaded = np.load(path, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                keys = list(loaded.keys())
                if "images" not in keys and len(keys) != 1:
                    raise ValueError(f"it holds the arrays {keys}: name the images 'images' or store one array")
                loaded = loaded["images" if "images" in keys else keys[0]]
            array = torch.from_numpy(np.ascontiguousarray(loaded))
    except (ValueError, OSError, RuntimeError, EOFError) as err:  # pickled objects, a corrupt file
        raise ConfigError(f"{path}: not a plain array of images ({err})") from err
    if not torch.is_tensor(array):
        raise ConfigError(f"{path}: holds a {type(array).__name__}, not a tensor of images")
    c, h, w = image_shape
    if array.dim() == 3 and c == 1:
        array = array.unsqueeze(1)
    elif array.dim() == 4 and tuple(array.shape[1:]) != (c, h, w) and tuple(array.shape[1:]) == (h, w, c):
        array = array.permute(0, 3, 1, 2)  # channels last, as NumPy images usually are
    if array.dtype != torch.uint8:
        if not array.is_floating_point():
            raise ConfigError(f"{path}: images must be uint8 (0-255) or floats in [0, 1], got {array.dtype}")
        array = array.float()
        if array.numel() and (array.min() < 0 or array.max() > 1):
            raise ConfigError(f"{path}: float images must lie in [0, 1], found [{array.min():.3g}, {array.max():.3g}]")
    return array.contiguous()


def seed_from(source: str | Path | None, root: str | Path, folder: str) -> None:
    """Copies ``<source>/<folder>/raw/*`` into ``<root>/<folder>/raw`` when missing or different
    (a truncated or corrupt archive is replaced by the intact copy, with a warning)."""
    if not source:
        return
    src = Path(source) / folder / "raw"
    dst = Path(root) / folder / "raw"
    if not src.is_dir():
        return
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        target = dst / f.name
        if target.exists() and filecmp.cmp(f, target, shallow=False):
            continue
        if target.exists():
            log.warning("%s differs from the intact copy in %s (corrupt or truncated): copying it again", target, src)
            for extracted in dst.glob(f"{f.name.removesuffix('.gz')}"):
                extracted.unlink()  # torchvision extracted the corrupt archive; let it extract again
        # Copied under a temporary name and renamed, so a second process never reads half a file.
        partial = dst / f".{f.name}.{os.getpid()}.partial"
        shutil.copy2(f, partial)
        os.replace(partial, target)


@contextlib.contextmanager
def preparing(root: str | Path) -> Iterator[None]:
    """Holds ``<root>/.autovae-data.lock`` while the data are copied, checked, extracted and read, so
    that two jobs starting together never read a file the other is still writing."""
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        lock = open(Path(root) / ".autovae-data.lock", "a+")
    except OSError:  # a read-only data folder: nothing will be written there, so nothing to guard
        yield
        return
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield  # closing the file releases the lock, on any exit


def damaged_idx_files(raw: Path) -> list[Path]:
    """Extracted IDX files (MNIST's format) shorter or longer than their own header says, where the
    archive they came from lies beside them: torchvision re-extracts only missing files."""
    damaged = []
    for archive in raw.glob("*-ubyte.gz"):
        extracted = archive.with_suffix("")
        if not extracted.exists():
            continue
        with extracted.open("rb") as f:
            head = f.read(4)
            ndim = head[3] if len(head) == 4 else 0
            dims = np.frombuffer(f.read(4 * ndim), dtype=">i4") if ndim else np.array([], dtype=">i4")
        expected = 4 + 4 * ndim + int(np.prod(dims, dtype=np.int64)) if len(dims) == ndim and ndim else -1
        if extracted.stat().st_size != expected:
            damaged.append(extracted)
    return damaged


def _unverified(cls):
    """A torchvision dataset class that skips its md5 check (files prepared by hand, tests)."""
    attrs = {"_check_integrity": lambda self: True}
    if isinstance(getattr(cls, "meta", None), dict):  # CIFAR also checks its metadata file's md5
        attrs["meta"] = {**cls.meta, "md5": None}
    return type(f"Unverified{cls.__name__}", (cls,), attrs)


def _unverified_idx(cls):
    """An MNIST-like torchvision class that extracts its archives without their md5 check: torchvision
    skips the check for a resource whose md5 is None, and names its folder after the class."""
    return type(f"Unverified{cls.__name__}", (cls,), {
        "resources": [(filename, None) for filename, _ in cls.resources],
        "raw_folder": property(lambda self: os.path.join(self.root, cls.__name__, "raw"))})


def _torchvision(name: str):
    import torchvision.datasets as tvd

    return getattr(tvd, name)


def _mnist_like(cls_name: str):
    def load(root: Path, train: bool, verify: bool) -> torch.Tensor:
        raw = root / cls_name / "raw"
        damaged = damaged_idx_files(raw) if raw.is_dir() else []
        for path in damaged:
            log.warning("%s is damaged (its size disagrees with its header): extracting it again from %s.gz",
                        path, path.name)
            path.unlink()
        cls = _torchvision(cls_name)
        ds = (cls if verify else _unverified_idx(cls))(str(root), train=train, download=True)
        return ds.data.unsqueeze(1).contiguous()

    return load


register_dataset("mnist", (1, 28, 28))(_mnist_like("MNIST"))
register_dataset("fashion_mnist", (1, 28, 28))(_mnist_like("FashionMNIST"))
register_dataset("kmnist", (1, 28, 28))(_mnist_like("KMNIST"))


def _cifar(cls_name: str):
    def load(root: Path, train: bool, verify: bool) -> torch.Tensor:
        cls = _torchvision(cls_name)
        ds = (cls if verify else _unverified(cls))(str(root), train=train, download=verify)
        return torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()

    return load


register_dataset("cifar10", (3, 32, 32))(_cifar("CIFAR10"))
register_dataset("cifar100", (3, 32, 32))(_cifar("CIFAR100"))


@register_dataset("svhn", (3, 32, 32))
def _svhn(root: Path, train: bool, verify: bool) -> torch.Tensor:
    cls = _torchvision("SVHN")
    ds = (cls if verify else _unverified(cls))(str(root), split="train" if train else "test", download=verify)
    return torch.from_numpy(np.ascontiguousarray(ds.data))


@register_dataset("celeba", (3, 64, 64))
def _celeba(root: Path, train: bool, verify: bool) -> torch.Tensor:
    """CelebA aligned faces, centre-cropped to 140 px and resized to 64x64, cached as a tensor file."""
    split = "train" if train else "test"
    cache = root / "celeba" / f"{split}_64x64.pt"
    if cache.exists():
        return torch.load(cache, weights_only=True)
    from torchvision import transforms

    cls = _torchvision("CelebA")
    ds = (cls if verify else _unverified(cls))(str(root), split=split, download=False)
    to_64 = transforms.Compose([transforms.CenterCrop(140), transforms.Resize(64), transforms.PILToTensor()])
    images = torch.stack([to_64(ds[i][0]) for i in range(len(ds))])
    tmp = cache.with_suffix(".tmp")
    torch.save(images, tmp)
    tmp.replace(cache)
    return images
