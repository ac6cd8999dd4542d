"""Checkpoints that are never half-written, and a resume that survives a corrupt one.

Lightning writes a checkpoint straight to its final path, so a full disk or a kill mid-write leaves
a truncated ``last.ckpt`` that fails every restart in the zip reader. ``AtomicCheckpointIO`` writes
to a temporary file in the same folder (same filesystem) and renames it; ``usable_checkpoint`` sets a
corrupt file aside, says so, and lets the run start from scratch.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from autovae.errors import CorruptCheckpointError
from autovae.results import write_atomic

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        write_atomic(path, lambda f: torch.save(checkpoint, f))


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch a checkpoint resumes at; raises CorruptCheckpointError naming the file."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
        return int(ckpt["epoch"])
    except Exception as err:  # truncated zip, bad pickle, missing key: all mean "cannot resume from it"
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err})") from err


def usable_checkpoint(path: str | Path | None) -> tuple[str | None, int | None]:
    """(path, epoch) of a checkpoint that loads; a corrupt one is renamed aside and (None, None) returned."""
    if path is None or not Path(path).exists():
        return None, None
    try:
        return str(path), checkpoint_epoch(path)
    except CorruptCheckpointError as err:
        aside = Path(f"{path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        log.warning("%s; moved it to %s and starting this run from scratch", err, aside)
        return None, None
