"""A run folder that knows what it holds: its configuration's hash, and a record nothing rewrites.

A folder holds one configuration's run. Starting it again with the same configuration resumes (or,
when completed, skips) it; starting it with a different one is refused with the differing keys,
unless ``on_config_change=restart`` sets the old run aside first. Hydra rewrites ``.hydra/`` on every
start, so the record of the run that trained is kept in ``.hydra-run/`` and put back when a start is
refused or skipped.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from autovae.errors import RunFolderError
from autovae.results import COMPLETED, HOW_NOT_WHAT, canonical, flatten, without

log = logging.getLogger(__name__)

# What may change between a start and its resumption without changing what the run computes.
MAY_CHANGE_ON_RESUME = (*HOW_NOT_WHAT, "trainer.max_epochs", "callbacks.progress_bar", "callbacks.images",
                        "callbacks.lr_monitor", "callbacks.model_checkpoint")
RECORD, HYDRA = ".hydra-run", ".hydra"


def comparable(config: dict) -> dict[str, Any]:
    return canonical(without(flatten(config), MAY_CHANGE_ON_RESUME))


def config_hash(config: dict) -> str:
    return hashlib.sha1(json.dumps(comparable(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


def differing_keys(old: dict, new: dict) -> list[str]:
    a, b = comparable(old), comparable(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def check_folder(out: Path, previous: dict | None, config: dict, on_change: str = "refuse") -> dict | None:
    """Refuses (or, with on_change=restart, sets aside) a run of another configuration in ``out``.
    Returns the folder's run record that still stands (None once set aside)."""
    if not previous or "config" not in previous:
        return previous
    keys = differing_keys(previous["config"], config)
    if not keys:
        return previous
    shown = ", ".join(f"{k}: {flatten(previous['config']).get(k, '<absent>')!r} -> {flatten(config).get(k, '<absent>')!r}"
                      for k in keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    if on_change != "restart":
        restore_record(out)
        raise RunFolderError(
            f"{out} holds a {previous.get('status', 'started')} run of another configuration ({shown}). "
            "Use another folder (hydra.run.dir=...), or on_config_change=restart to set that run aside and start over.")
    aside = out / f"superseded-{time.strftime('%Y%m%d-%H%M%S')}"
    aside.mkdir()
    for name in ("metrics.json", "checkpoints", "csv", "images", RECORD):
        if (out / name).exists():
            shutil.move(str(out / name), str(aside / name))
    log.warning("on_config_change=restart: the previous run (%s) moved to %s", shown, aside)
    return None


def keep_record(out: Path) -> None:
    """Copies .hydra/ (this start's configuration) to the run's own record."""
    if (out / HYDRA).is_dir():
        shutil.rmtree(out / RECORD, ignore_errors=True)
        shutil.copytree(out / HYDRA, out / RECORD)


def restore_record(out: Path) -> None:
    """Puts back the .hydra/ of the run that trained in ``out`` (Hydra rewrote it on this start)."""
    if (out / RECORD).is_dir():
        shutil.rmtree(out / HYDRA, ignore_errors=True)
        shutil.copytree(out / RECORD, out / HYDRA)


def should_skip(previous: dict | None, skip_completed: bool) -> bool:
    return bool(skip_completed and previous and previous.get("status") == COMPLETED)


def trim_history(csv_path: Path, from_epoch: int) -> None:
    """Drops the CSV rows of epochs a resumed run will train again (those after its checkpoint)."""
    if not csv_path.exists():
        return
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if not r.get("epoch") or int(float(r["epoch"])) < from_epoch]
    if len(kept) == len(rows):
        return
    tmp = csv_path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(csv_path)
