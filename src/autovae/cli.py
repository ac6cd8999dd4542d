"""What the entry points share: quiet third-party output, known errors in one line, a results table."""
from __future__ import annotations

import contextlib
import logging
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator

from autovae.errors import AutovaeError, traceback_to_log_file

log = logging.getLogger("autovae")


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(f in record.getMessage() for f in self.fragments)


def quiet_third_party() -> None:
    """Each line once, and no lines a user cannot act on (filtered at their source, by name)."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        # Lightning adds its own console handlers; Hydra's root handlers (console and the run's
        # log file) already print these records, so every Lightning line appeared twice.
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                logger.removeHandler(handler)
        logger.propagate = True
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logging.getLogger(name).addFilter(_DropMessages("litlogger", "LitLogger"))
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")  # our loaders are in-memory tensors
    warnings.filterwarnings("ignore", message=r".*smaller than the logging interval.*")


@contextlib.contextmanager
def known_errors(run_dir: str | Path | None) -> Iterator[None]:
    """Prints an AutovaeError as one line (plus where its traceback went) and exits with status 2."""
    try:
        yield
    except AutovaeError as err:
        where = traceback_to_log_file(traceback.format_exc(), run_dir)
        print(f"autovae: {err}" + (f"\n  (traceback in {where})" if where else ""), file=sys.stderr)
        sys.exit(2)


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.3f}" if abs(float(value)) < 1 else f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)


RESULT_ROWS = [("test/bound_a1_k1", "L_{1,1} (ELBO)"), ("test/bound_a0_k50", "L_{0,50} (IWAE)"),
               ("test/nll", "NLL (-L_{0,K})"), ("test/kl", "KL"), ("test/recon_expected", "reconstruction, E_q"),
               ("test/recon_at_mean", "reconstruction at the mean"), ("test/fid", "FID"), ("test/kid", "KID"),
               ("val/elbo", "validation ELBO")]


def results_table(result: dict[str, Any]) -> str:
    """A run's end: its status, main figures, wall time and folder, as a small text table."""
    metrics = result.get("metrics") or {}
    lines = [f"Run {result.get('status', '?')}" + (f" ({result.get('reason')}: {result.get('error')})"
                                                   if result.get("status") != "completed" and result.get("error") else "")]
    rows = [(label, _fmt(metrics[key])) for key, label in RESULT_ROWS if key in metrics]
    for key in sorted(metrics):
        if key.startswith("test/bound_") and key not in dict(RESULT_ROWS):
            rows.append((key[5:], _fmt(metrics[key])))
    if "test/fidelity_samples" in metrics:
        rows.append(("FID/KID samples", f"{int(metrics['test/fidelity_samples'])}"))
    if "duration_s" in result:
        rows.append(("wall time", f"{result['duration_s'] / 60:.1f} min"))
    width = max((len(label) for label, _ in rows), default=0)
    lines += [f"  {label:<{width}}  {value}" for label, value in rows]
    lines.append(f"  folder: {result.get('run_dir', '?')} (metrics.json)")
    return "\n".join(lines)
