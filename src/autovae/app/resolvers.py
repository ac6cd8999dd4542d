"""OmegaConf resolvers used by the configs; registered by the entry points before Hydra composes."""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from omegaconf import OmegaConf

MAX_DIRNAME = 120


def job_dirname(override_dirname: str) -> str:
    """A sweep job's folder: its overrides, made path-safe, shortened with a hash when long."""
    name = re.sub(r"[^A-Za-z0-9_.,=+-]+", "_", override_dirname) or "default"
    if len(name) > MAX_DIRNAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:MAX_DIRNAME - 11]}-{digest}"
    return name


def swept_dirname(sweep_dir: str) -> str:
    """A sweep job's folder named by the swept keys only (``column=N_N,seed=1``), so that fixed
    settings such as ``++trainer.*`` never push the swept values out of the name. Falls back to every
    override when the sweep's multirun.yaml cannot tell which keys were swept."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.override_parser.overrides_parser import OverridesParser

    job = HydraConfig.get()
    task = list(job.overrides.task)
    try:
        sweep = OmegaConf.load(Path(sweep_dir) / "multirun.yaml")
        parsed = OverridesParser.create().parse_overrides(list(sweep.hydra.overrides.task))
        swept = {o.key_or_group for o in parsed if o.is_sweep_override()}
        swept |= set((OmegaConf.select(sweep, "hydra.sweeper.params") or {}).keys())
    except Exception:  # no multirun.yaml (a single run) or an unreadable one
        swept = set()
    chosen = [o for o in task if _key(o) in swept]
    # as Hydra's override_dirname, sorted, less the keys that say how a run computes, not what
    return job_dirname(",".join(chosen or sorted(o for o in task if not _how_not_what(_key(o)))))


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0]


def _how_not_what(key: str) -> bool:
    from autovae.runs.keys import NOT_IN_A_FOLDER_NAME

    return any(key == p or key.startswith(p + ".") for p in NOT_IN_A_FOLDER_NAME)


def wandb_group(mode: str, sweep_name: str) -> str | None:
    """Jobs of one multirun share a W&B group (the sweep's name); single runs have none."""
    return sweep_name if str(mode).endswith("MULTIRUN") else None


RAY_SOCKET_ROOM = 60  # Ray appends session_<timestamp>/sockets/plasma_store; AF_UNIX paths stop at 107 bytes


def ray_temp_dir(log_dir: str) -> str:
    """Ray's temporary folder inside the output folder; when that path is too long for Ray's Unix
    sockets, a short folder under /tmp is used and linked from the output folder."""
    wanted = Path(log_dir).resolve() / "ray"
    if len(str(wanted)) + RAY_SOCKET_ROOM <= 107:
        return str(wanted)
    short = Path("/tmp") / f"ray-{hashlib.sha1(str(wanted).encode()).hexdigest()[:8]}"
    short.mkdir(parents=True, exist_ok=True)
    wanted.parent.mkdir(parents=True, exist_ok=True)
    if not wanted.exists():
        wanted.symlink_to(short, target_is_directory=True)
    return str(short)


def fast_precision(accelerator: str = "auto") -> str:
    from autovae.lightning.precision import fast_precision as choose

    return choose(accelerator)


RESOLVERS = {"fast_precision": fast_precision, "swept_dirname": swept_dirname, "ray_temp_dir": ray_temp_dir, "job_dirname": job_dirname, "abspath": lambda p: str(Path(p).resolve()), "wandb_group": wandb_group}


def register() -> None:
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
