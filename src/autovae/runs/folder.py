"""A run folder that knows what it holds: one process at a time, its configuration, and a record
nothing rewrites.

A folder holds one configuration's run. Starting it again with the same configuration resumes (or,
when completed, skips) it; starting it with a different one is refused with the differing keys,
unless ``on_config_change=restart`` sets the old run aside first. The configuration is known from
metrics.json, else from ``.hydra-run/`` (a crash can leave metrics.json missing or empty, never
``.hydra-run/``, which is written before anything else). Hydra rewrites ``.hydra/`` on every start,
before autovae runs, so ``.hydra-run/`` is written from the running process's own config and put
back whenever a start is refused or skipped. ``FolderLock`` keeps a second process out for the
run's whole life; the kernel releases it on any exit, so a kill -9 leaves no stale lock.
"""
from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from autovae.errors import RunFolderError
from autovae.runs.keys import MAY_CHANGE_ON_RESUME, canonical, flatten, without
from autovae.runs.record import COMPLETED

log = logging.getLogger(__name__)

RECORD, HYDRA, LOCK = ".hydra-run", ".hydra", ".lock"


class FolderBusyError(RunFolderError):
    """Another process holds the run folder's lock."""


class FolderLock:
    """An exclusive ``flock`` on ``<folder>/.lock`` holding the holder's PID, for a run's whole life."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> "FolderLock":
        path = self.folder / LOCK
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as err:
            raise RunFolderError(f"cannot use the run folder {self.folder}: {err.strerror}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise FolderBusyError(f"{self.folder} is in use by process {holder} (it holds {path}); wait for it to "
                                  "end or use another folder (hydra.run.dir=...)") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    @staticmethod
    def held(folder: str | Path) -> bool:
        """Whether a live process holds the folder's lock now (a run whose process died holds none)."""
        path = Path(folder) / LOCK
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None


def comparable(config: dict) -> dict[str, Any]:
    return canonical(without(flatten(config), MAY_CHANGE_ON_RESUME))


def config_hash(config: dict) -> str:
    return hashlib.sha1(json.dumps(comparable(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


def differing_keys(old: dict, new: dict) -> list[str]:
    a, b = comparable(old), comparable(new)
    return sorted(k for k in set(a) | set(b) if a.get(k, "<absent>") != b.get(k, "<absent>"))


def recorded_configuration(out: Path) -> tuple[dict, dict | None] | None:
    """(the config the folder's run was started with, unresolved; its Hydra node or None) from
    ``.hydra-run/``, or None where the folder has no readable record."""
    try:
        config = OmegaConf.to_container(OmegaConf.load(out / RECORD / "config.yaml"), resolve=False)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if not isinstance(config, dict):
        return None
    try:
        hydra = OmegaConf.to_container(OmegaConf.load(out / RECORD / "hydra.yaml"), resolve=False)
    except (OSError, ValueError, TypeError):
        hydra = None
    return config, hydra


def folder_record(out: Path, cfg: DictConfig) -> tuple[dict | None, dict]:
    """(what the folder's run record says, or None for a fresh folder; this start's config in the same
    form): metrics.json's resolved config where it is readable, else ``.hydra-run/``'s unresolved one
    (compared with this start's unresolved config), else a checkpoint with no record at all."""
    from autovae.runs.record import read_metrics

    previous = read_metrics(out)
    if previous and isinstance(previous.get("config"), dict):
        return previous, OmegaConf.to_container(cfg, resolve=True)
    unresolved = OmegaConf.to_container(cfg, resolve=False)
    recorded = recorded_configuration(out)
    if recorded is not None:
        return {"status": "crashed", "config": recorded[0], "record": RECORD}, unresolved
    if (out / "checkpoints" / "last.ckpt").exists():
        return {"status": "unrecorded", "checkpoint_only": True}, unresolved
    return None, unresolved


def check_folder(out: Path, previous: dict | None, config: dict, on_change: str = "refuse") -> dict | None:
    """Refuses (or, with on_change=restart, sets aside) a run of another configuration in ``out``.
    Returns the folder's run record that still stands (None once set aside)."""
    if not previous:
        return previous
    if previous.get("checkpoint_only"):
        keys, shown = ["<unknown>"], "a checkpoint with neither metrics.json nor .hydra-run/ to say what it trained"
    elif "config" not in previous:
        return previous
    else:
        keys = differing_keys(previous["config"], config)
        shown = ", ".join(f"{k}: {flatten(previous['config']).get(k, '<absent>')!r} -> {flatten(config).get(k, '<absent>')!r}"
                          for k in keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    if not keys:
        return previous
    if on_change != "restart":
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


def keep_record(out: Path, cfg: DictConfig) -> None:
    """Writes this start's configuration as the run's own record, from the process's own config (a
    copy of .hydra/ could hold another process's start), then makes .hydra/ say the same."""
    from hydra.core.hydra_config import HydraConfig

    from autovae.runs.atomic import write_text_atomic

    record = out / RECORD
    shutil.rmtree(record, ignore_errors=True)
    write_text_atomic(record / "config.yaml", OmegaConf.to_yaml(cfg))
    # Only a job whose own Hydra folder this is has a Hydra record (a search trial runs in-process,
    # under the search's Hydra job, in a folder of its own).
    if HydraConfig.initialized() and Path(HydraConfig.get().runtime.output_dir).resolve() == out.resolve():
        hydra = HydraConfig.get()
        write_text_atomic(record / "hydra.yaml", OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra})))
        write_text_atomic(record / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(list(hydra.overrides.task))))
        restore_record(out)


def restore_record(out: Path) -> None:
    """Puts back the .hydra/ of the run that trained in ``out`` (Hydra rewrote it on this start)."""
    if (out / RECORD / "hydra.yaml").is_file():
        shutil.rmtree(out / HYDRA, ignore_errors=True)
        shutil.copytree(out / RECORD, out / HYDRA)


def should_skip(previous: dict | None, skip_completed: bool) -> bool:
    return bool(skip_completed and previous and previous.get("status") == COMPLETED)


def _logged_before(row: dict, epoch: int, step: int) -> bool:
    """Whether a CSV row was logged before the resume point: rows of an epoch by their epoch; rows
    without one (the learning-rate monitor's, at an epoch's first step) by their step."""
    try:
        if row.get("epoch"):
            return int(float(row["epoch"])) < epoch
        return not row.get("step") or int(float(row["step"])) < step
    except ValueError:
        return False


def trim_history(csv_path: Path, from_epoch: int, from_step: int) -> None:
    """Drops the CSV rows a resumed run will log again: those of the epochs after its checkpoint and the
    epoch-less ones at or after its step, so each logged step appears once."""
    if not csv_path.exists():
        return
    with csv_path.open(newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames or [], list(reader)
    kept = [r for r in rows if _logged_before(r, from_epoch, from_step)]
    if len(kept) == len(rows):
        return
    tmp = csv_path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    tmp.replace(csv_path)


def clear_history(out: Path) -> None:
    """A run that starts from scratch in a used folder starts its CSV history afresh too."""
    history = out / "csv" / "metrics.csv"
    if history.exists():
        history.unlink()
        log.info("starting from scratch: removed the earlier %s", history)
