"""Errors whose message tells the user what is wrong and what to do.

The entry points print an ``AutovaeError`` as one or two lines and exit non-zero; the traceback goes
to the run folder's ``error.log``. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import logging
from pathlib import Path


class AutovaeError(Exception):
    """A known failure: bad configuration, missing or corrupt data or checkpoint, unusable folder."""


class ConfigError(AutovaeError, ValueError):
    """A configuration value that cannot work; the message names the key, the value and what is allowed."""


class UnknownOptionError(ConfigError):
    """An option name that does not exist; the message lists the valid ones."""


class DataNotFoundError(AutovaeError, FileNotFoundError):
    """The dataset is not on disk (or is corrupt) and could not be downloaded."""


class CorruptCheckpointError(AutovaeError):
    """A checkpoint that cannot be read."""


class NoWeightsError(AutovaeError, FileNotFoundError):
    """A run folder without a checkpoint: committed results keep records, history and images, not weights."""


class UnsafeCheckpointError(AutovaeError):
    """A checkpoint whose pickle needs more than tensors and plain data: it is not loaded."""


class RunFolderError(AutovaeError):
    """A run folder that cannot be used: it holds another configuration's run, or cannot be written."""


def traceback_to_log_file(text: str, run_dir: str | Path | None) -> str | None:
    """Writes the traceback to the run's log file (Hydra's file handler), not to the console."""
    record = logging.LogRecord("autovae", logging.ERROR, __file__, 0, text, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
            return handler.baseFilename
    if run_dir is None:
        return None
    try:
        path = Path(run_dir) / "error.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return str(path)
    except OSError:
        return None
