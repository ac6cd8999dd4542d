"""Datasets in their original file formats, written by the tests: small ones for the datasets that
cannot be had offline, and full-size MNIST and Fashion-MNIST archives for a machine without
../shared/data, so that every end-to-end test runs there instead of skipping."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

# torchvision's archive names and split sizes for both datasets
SPLITS = {"train": 60000, "t10k": 10000}


def idx_bytes(array: np.ndarray) -> bytes:
    """An array in the IDX format of the MNIST archives (unsigned bytes, big-endian dimensions)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    path.write_bytes(idx_bytes(array))


def digit_like_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """28x28 grey images with the statistics a VAE test relies on: a dark background, a bright
    stroke-like shape per class, and variation within a class (shift, thickness, brightness)."""
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    prototypes = []
    for k in range(10):  # a ring, a bar or a pair of arcs per class, at a class-specific angle
        angle = np.pi * k / 10
        u = (xx - 13.5) * np.cos(angle) + (yy - 13.5) * np.sin(angle)
        v = -(xx - 13.5) * np.sin(angle) + (yy - 13.5) * np.cos(angle)
        r = np.sqrt(u ** 2 + (v * (1 + k % 3 * 0.5)) ** 2)
        shape = np.exp(-((r - 5 - k % 4) ** 2) / 3.0) if k % 2 == 0 else np.exp(-(u ** 2) / 3.0) * (np.abs(v) < 8 + k % 3)
        prototypes.append(shape / shape.max())
    prototypes = np.stack(prototypes).astype(np.float32)
    images = np.empty((len(labels), 28, 28), dtype=np.uint8)
    for start in range(0, len(labels), 5000):  # in chunks: 60,000 float images at once is 190 MB
        lab = labels[start:start + 5000]
        n = len(lab)
        base = prototypes[lab]
        dx, dy = rng.integers(-3, 4, n), rng.integers(-3, 4, n)
        shifted = np.stack([np.roll(b, (y, x), axis=(0, 1)) for b, x, y in zip(base, dx, dy)])
        gamma = rng.uniform(0.5, 2.0, (n, 1, 1)).astype(np.float32)  # thin or thick strokes
        bright = rng.uniform(0.7, 1.0, (n, 1, 1)).astype(np.float32)
        noise = rng.normal(0, 0.03, shifted.shape).astype(np.float32)
        img = np.clip(bright * shifted ** gamma + noise, 0, 1)
        img[img < 0.05] = 0  # MNIST's background is exactly black
        images[start:start + n] = np.round(img * 255).astype(np.uint8)
    return images


def write_mnist_archives(root: Path, name: str, seed: int = 0, sizes: dict[str, int] = SPLITS) -> Path:
    """``root/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` as the original archives
    come, and the files torchvision extracts from them beside them. Their md5 sums are not the
    originals': a test that has the archives extracted again passes ``verify_checksums=False``."""
    raw = Path(root) / name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for split, n in sizes.items():
        labels = rng.integers(0, 10, n).astype(np.uint8)
        for kind, array in (("images-idx3", digit_like_images(labels, rng)), ("labels-idx1", labels)):
            data = idx_bytes(array)
            (raw / f"{split}-{kind}-ubyte").write_bytes(data)
            with gzip.open(raw / f"{split}-{kind}-ubyte.gz", "wb", compresslevel=1) as f:
                f.write(data)
    return raw
