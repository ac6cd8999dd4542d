"""OmegaConf resolvers used by the configs; registered by the entry points before Hydra composes."""
from __future__ import annotations

import hashlib
import re

from omegaconf import OmegaConf

MAX_DIRNAME = 120


def job_dirname(override_dirname: str) -> str:
    """A sweep job's folder: its overrides, made path-safe, shortened with a hash when long."""
    name = re.sub(r"[^A-Za-z0-9_.,=+-]+", "_", override_dirname) or "default"
    if len(name) > MAX_DIRNAME:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:MAX_DIRNAME - 11]}-{digest}"
    return name


def register() -> None:
    if not OmegaConf.has_resolver("job_dirname"):
        OmegaConf.register_new_resolver("job_dirname", job_dirname)
