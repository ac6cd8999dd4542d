"""A run's results file, metrics.json: written atomically, read defensively."""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from autovae.config_migration import upgrade_config

METRICS_FILE = "metrics.json"
COMPLETED, FAILED, RUNNING, TERMINATED = "completed", "failed", "running", "terminated"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "nan" / "inf": JSON has no literal for them
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_json_atomic(path: str | Path, payload: dict[str, Any]) -> None:
    write_text_atomic(path, json.dumps(_jsonable(payload), indent=2, sort_keys=True))


def write_text_atomic(path: str | Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode()))


def write_atomic(path: str | Path, write: Callable[[Any], Any]) -> None:
    """Writes through ``write(binary file)`` to a temporary file in the same folder (so the same
    filesystem), then renames: readers never see half a file, a full disk never truncates one."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from the group
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_error_in(err)
        if cause is not None:  # a write to a full disk names no file (torch.save even hides it in a
            raise OSError(cause.errno, cause.strerror, str(path)) from err  # RuntimeError): name this one
        raise


def _os_error_in(err: BaseException | None) -> OSError | None:
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno is not None:
            return err
        err = err.__cause__ or err.__context__
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_metrics(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's metrics.json, or None when it is missing or unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(payload, dict) and "config" in payload:  # records of older layouts read as today's
        payload["config"] = upgrade_config(payload["config"])
    return payload


def as_float(value: Any) -> float:
    """Metric values as floats, including the "nan"/"inf" strings written for non-finite ones."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {"a.b.c": value}."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


# Settings that say how a run computes, not what: left out both when a folder's configuration is
# compared on resume and when runs are grouped into seeds. (threads and a fused optimizer change only
# float rounding, as a different machine would.)
HOW_NOT_WHAT = ("paths", "run_name", "sweep_name", "skip_completed", "on_error", "on_config_change", "ckpt_path",
                "logger", "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
                "trainer.default_root_dir", "trainer.plugins", "threads", "host_allocator", "model.optimizer.fused",
                "model.optimizer.foreach", "dataset.data_dir", "dataset.seed_dir", "callbacks.fidelity.cache_root",
                "hydra")
# What may change between a start and its resumption without changing what the run computes.
MAY_CHANGE_ON_RESUME = (*HOW_NOT_WHAT, "trainer.max_epochs", "callbacks.progress_bar", "callbacks.images",
                        "callbacks.lr_monitor", "callbacks.model_checkpoint")
# Left out when grouping runs into seeds: besides how a run computes, callbacks only add measurements
# (FID/KID, pictures): seeds with and without FID are the same model, and the FID/KID rows name their
# sample counts.
NOT_PART_OF_A_GROUP = (*HOW_NOT_WHAT, "seed", "dataset.seed", "callbacks", "column")
# Left out of a sweep job's folder name when it is named by its overrides (where the sweep's swept
# keys are unknown): what may change on resume, and the device, which a resumed job may also change.
NOT_IN_A_FOLDER_NAME = (*MAY_CHANGE_ON_RESUME, "trainer.accelerator")


def without(flat: dict[str, Any], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The flattened config less the keys equal to, or under, any of ``prefixes``."""
    return {k: v for k, v in flat.items() if not any(k == p or k.startswith(p.rstrip(".") + ".") for p in prefixes)}


# Settings added after runs were already made, with the value that reproduces what those runs did:
# a run without the key and a run with this value computed the same thing.
ADDED_SETTINGS = {"pairing.scale_param": "softplus", "model.net.pairing.scale_param": "softplus",
                  "model.net.architecture.init": "default"}


def canonical(flat: dict[str, Any]) -> dict[str, Any]:
    """A flattened config without added settings at the value older runs implicitly had."""
    return {k: v for k, v in flat.items() if not (k in ADDED_SETTINGS and v == ADDED_SETTINGS[k])}
