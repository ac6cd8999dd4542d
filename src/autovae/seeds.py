"""Every random stream a run derives from its one ``seed``, named in one place so that no two uses
collide by accident and a resumed run draws what an uninterrupted one would have."""
from __future__ import annotations

# A prime stride: base * stride + offset gives distinct seeds for every offset below the stride.
SEED_STRIDE = 1_000_003
# Offsets from the run's seed of the static binarization of each split (fixed, so that evaluation
# metrics are comparable across runs and resumes).
BINARIZATION_OFFSET = {"train": 0, "test": 1, "val": 2}


def derived_seed(base: int, offset: int) -> int:
    """The seed of stream ``offset`` (an epoch's shuffle, an evaluation phase) of a run seeded
    ``base``; modulo 2**63 because torch.manual_seed refuses seeds beyond a signed 64-bit integer and
    torch.initial_seed() is a random 64-bit value when nothing seeded the process."""
    return (base * SEED_STRIDE + offset) % (2 ** 63)


def binarization_seed(seed: int, split: str) -> int:
    return seed + BINARIZATION_OFFSET[split]
