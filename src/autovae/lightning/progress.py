"""Progress of long work that happens inside one Lightning step: the K=5000 NLL of a test batch,
FID's feature extraction, reading many run folders for a table.

Inside a fit or test, the row joins Lightning's own progress bar (rich or tqdm) so that one live
display shows everything; outside a trainer on a terminal, a rich bar of its own; with no bar (logs,
sweeps, CI) a line is logged when the work starts and when it ends, with its duration. The row is created at the first ``advance``, so work that turns out
to be cached (a reference set's FID features) never shows a bar stuck at zero.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("autovae.lightning.progress")


class ProgressTask:
    """``advance(n)`` as work is done, ``close()`` when it ends; usable as a context manager."""

    def __init__(self, description: str, total: int, trainer: Any = None, unit: str = "items"):
        self.description, self.total, self.unit = description, int(total), unit
        self.done, self._started, self._closed = 0, None, False
        self._rich = self._tqdm = self._task = self._own = None
        bar = getattr(trainer, "progress_bar_callback", None) if trainer is not None else None
        if trainer is None and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import Progress
            self._own = Progress(console=Console(stderr=True), transient=True)
            self._rich = self._own
        if bar is not None and getattr(bar, "is_enabled", False):
            progress = getattr(bar, "progress", None)
            if progress is not None and hasattr(progress, "add_task"):
                self._rich = progress
            else:
                self._tqdm = bar

    def __enter__(self) -> "ProgressTask":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self._started = time.perf_counter()
        if self._own is not None:
            self._own.start()
        if self._rich is not None:
            self._task = self._rich.add_task(self.description, total=self.total)
        elif self._tqdm is not None:
            from tqdm.auto import tqdm
            self._task = tqdm(total=self.total, desc=self.description, unit=self.unit, leave=False, dynamic_ncols=True)
        else:
            log.info("%s: %d %s ...", self.description, self.total, self.unit)

    def advance(self, n: int = 1) -> None:
        if self._started is None:
            self._start()
        self.done += int(n)
        if self._rich is not None:
            self._rich.update(self._task, advance=n)
            self._rich.refresh()
        elif self._task is not None:
            self._task.update(n)

    def close(self) -> None:
        if self._closed or self._started is None:
            self._closed = True
            return
        self._closed = True
        seconds = time.perf_counter() - self._started
        if self._rich is not None:
            self._rich.remove_task(self._task)
            if self._own is not None:
                self._own.stop()
        elif self._task is not None:
            self._task.close()
        else:
            log.info("%s: %d of %d %s in %.1f s", self.description, self.done, self.total, self.unit, seconds)


def track(description: str, total: int, trainer: Any = None, unit: str = "items") -> ProgressTask:
    """A progress row for ``total`` units of work (see the module's docstring)."""
    return ProgressTask(description, total, trainer=trainer, unit=unit)
