"""Checkpoints that are never half-written, never unpickle code, and a resume that survives a corrupt one.

Lightning writes a checkpoint straight to its final path, so a full disk or a kill mid-write leaves
a truncated ``last.ckpt`` that fails every restart in the zip reader. ``AtomicCheckpointIO`` writes
to a temporary file in the same folder (same filesystem) and renames it; ``usable_checkpoint`` sets a
corrupt file aside, says so, and lets the run start from scratch.

Every checkpoint is read with ``torch.load(weights_only=True)``: autovae's own checkpoints hold only
tensors, numbers, strings and containers, so a pickle that needs anything else (a class, a function
such as ``os.system``) is not autovae's and is refused without being run.
"""
from __future__ import annotations

import logging
import os
import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from autovae.errors import CorruptCheckpointError, UnsafeCheckpointError
from autovae.runs.atomic import write_atomic

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """A checkpoint's contents, unpickled with torch's weights-only loader.

    Raises UnsafeCheckpointError when the pickle asks for anything the loader does not allow, and
    CorruptCheckpointError when the file cannot be read at all; both name the file."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "Weights only load failed" not in str(err):
            raise CorruptCheckpointError(f"checkpoint {path} cannot be read (UnpicklingError: {err})") from err
        needs = next((line.strip() for line in str(err).splitlines() if "unsupported" in line.lower()),
                     "objects other than tensors and plain data")
        raise UnsafeCheckpointError(f"checkpoint {path} is refused ({needs.rstrip('.')}): "
                                    "autovae loads only tensors and plain data (torch.load weights_only=True)") from None
    except FileNotFoundError:
        raise CorruptCheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as err:  # truncated zip, bad archive: "cannot resume from it"
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__}: {err})") from err


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        write_atomic(path, lambda f: torch.save(checkpoint, f))

    def load_checkpoint(self, path, map_location: Any = None, weights_only: bool | None = None) -> dict[str, Any]:
        # Lightning's ckpt_path= loads through here: the same weights-only loader as everything else.
        return load_checkpoint(path, map_location=map_location or "cpu")


@dataclass(frozen=True)
class Resumable:
    """Where a checkpoint resumes: saved at the end of ``epoch``, after ``global_step`` optimizer steps."""
    path: str
    epoch: int
    global_step: int


def resumable(path: str | Path) -> Resumable:
    """The checkpoint's position; raises CorruptCheckpointError (or UnsafeCheckpointError) naming the file."""
    ckpt = load_checkpoint(path)
    try:
        return Resumable(str(path), int(ckpt["epoch"]), int(ckpt.get("global_step", 0)))
    except (KeyError, TypeError, ValueError) as err:
        raise CorruptCheckpointError(f"checkpoint {path} cannot be read (no epoch: {err})") from err


def usable_checkpoint(path: str | Path | None) -> Resumable | None:
    """A folder's own checkpoint that loads; a corrupt one is renamed aside and None returned.
    An unsafe one is refused (UnsafeCheckpointError), never set aside silently."""
    if path is None or not Path(path).exists():
        return None
    try:
        return resumable(path)
    except CorruptCheckpointError as err:
        aside = Path(f"{path}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        log.warning("%s; moved it to %s and starting this run from scratch", err, aside)
        return None


def remove_partial_writes(folder: str | Path) -> list[Path]:
    """Deletes the temporary files that a kill during a checkpoint write left in ``folder``
    (``write_atomic``'s ``.<name>.<random>.tmp``). Safe only while this process holds the run's lock."""
    removed = []
    for tmp in Path(folder).glob(".*.ckpt.*.tmp"):
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    if removed:
        log.warning("removed %d partial checkpoint write(s) left by an earlier kill: %s", len(removed),
                    ", ".join(p.name for p in removed))
    return removed
