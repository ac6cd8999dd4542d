"""SIGTERM, a scheduler's notice of pre-emption (SLURM, Kubernetes), ends a run so that it resumes.

While Lightning trains or tests, its own SIGTERM handler (which calls this one too) stops the loop at
the next batch; outside it this handler raises ``RunTerminated`` at once. Either way the run records
``status: terminated``, keeps its last epoch's checkpoint and the entry point exits with
``EXIT_TERMINATED`` (128 + SIGTERM, what a shell reports for a process the signal ended), so a
scheduler requeues the job instead of counting it done. A sweep's worker processes watch their
parent and end (resumably) when it dies, instead of training on, re-parented to init.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from typing import Iterator

log = logging.getLogger(__name__)

EXIT_TERMINATED = 128 + int(signal.SIGTERM)
LAUNCHER_PID = "AUTOVAE_LAUNCHER_PID"  # set by a multirun's launching process, inherited by its workers
_state = {"received": False, "in_trainer": False, "installed": False, "watching": False, "orphaned": False}


class RunTerminated(BaseException):
    """SIGTERM ended the run (a BaseException, so Hydra's and Optuna's ``except Exception`` let it through)."""


def received() -> bool:
    return _state["received"]


def orphaned() -> bool:
    """Whether this worker's launching process died (``watch_parent``): nobody is left to report to."""
    return _state["orphaned"]


def _handler(signum, frame) -> None:
    _state["received"] = True
    if not _state["in_trainer"]:
        raise RunTerminated("terminated by SIGTERM")


def install() -> None:
    """Installs the handler in this process (once; only the main thread may set handlers)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _handler)
    _state["installed"] = True


@contextlib.contextmanager
def inside_trainer() -> Iterator[None]:
    """While the body runs, a SIGTERM is left to Lightning's handler (the loop stops at the next batch);
    the caller then checks ``received()``."""
    _state["in_trainer"] = True
    try:
        yield
    finally:
        _state["in_trainer"] = False
    if _state["received"]:
        raise RunTerminated("terminated by SIGTERM")


def watch_parent(grace_s: float = 120.0, poll_s: float = 1.0) -> None:
    """In a sweep's worker process: when the launching process dies, terminate this one as SIGTERM
    would (the run records itself and stops), and exit for good ``grace_s`` later."""
    launcher = os.environ.get(LAUNCHER_PID)
    if not launcher or int(launcher) == os.getpid() or _state["watching"]:
        return
    parent = os.getppid()
    _state["watching"] = True

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        log.error("the sweep's launching process (pid %d) is gone: ending this worker", parent)
        _state["orphaned"] = True
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace_s)
        os._exit(EXIT_TERMINATED)

    threading.Thread(target=watch, name="autovae-parent-watch", daemon=True).start()
