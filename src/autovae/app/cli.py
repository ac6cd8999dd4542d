"""What the entry points share: quiet third-party output, known errors in one line, a results table."""
from __future__ import annotations

import contextlib
import errno
import logging
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Any, Iterator

from autovae.errors import AutovaeError, traceback_to_log_file
from autovae.inference import metric_names as m

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
    """Prints an AutovaeError, or a folder that cannot be written (a full disk), as one line (plus where
    its traceback went) and exits with status 2, before Hydra wraps it in its own report."""
    try:
        yield
    except AutovaeError as err:
        where = traceback_to_log_file(traceback.format_exc(), run_dir)
        print(f"autovae: {err}" + (f"\n  (traceback in {where})" if where else ""), file=sys.stderr)
        sys.exit(EXIT_REFUSED)
    except Exception as err:  # noqa: BLE001 - classified, then re-raised unless it is a folder problem
        refuse_if_unwritable(err)
        raise


UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOTDIR, errno.ENOENT, errno.EDQUOT)
# Exit statuses (docs/failures.md): 0 every run completed; 1 a run failed or diverged, or a multirun
# has jobs that did not complete; 2 a bad value, option or folder, refused before anything ran;
# 143 (128 + SIGTERM) terminated, resumable from the last checkpoint.
EXIT_FAILED, EXIT_REFUSED = 1, 2


def unwritable_path(exc: BaseException) -> OSError | None:
    """The OSError behind an exception (its cause chain) that says a folder cannot be written, if any:
    Hydra creates the run folder, opens its log file and writes .hydra/ before autovae's code runs."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in UNWRITABLE:
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def refuse_if_unwritable(err: BaseException) -> None:
    """Exits with status 2 and one line when ``err`` comes from a folder that cannot be written."""
    bad = unwritable_path(err)
    if bad is not None:
        print(f"autovae: cannot write to {bad.filename}: {bad.strerror}. Make the folder writable or choose "
              "another one (hydra.run.dir=... for a run, paths.log_dir=... for all outputs)", file=sys.stderr)
        sys.exit(EXIT_REFUSED)


def run_entry_point(main) -> None:
    """Runs a Hydra entry point: a bad option or override, or an unwritable run folder, is reported in a
    line or two (with the valid options where Hydra lists them) and exit status 2; anything else is a
    bug and keeps its full traceback."""
    import os

    from hydra.errors import HydraException

    from autovae.app import sweep_summary
    from autovae.lightning import termination

    os.environ["HYDRA_FULL_ERROR"] = "1"  # let the exception reach us: we report it; bugs keep full tracebacks
    termination.install()
    try:
        main()
    except termination.RunTerminated as err:
        summary = sweep_summary.write_summary()  # a multirun ended early still says what each job did
        print(f"autovae: terminated by SIGTERM ({err}); starting the same command again resumes"
              + (f" (sweep summary: {summary['completed']} completed)" if summary else ""), file=sys.stderr)
        sys.exit(termination.EXIT_TERMINATED)
    except HydraException as err:  # an unknown option (with the valid ones), a malformed override
        print(f"autovae: {str(err).split('Config search path:')[0].rstrip()}", file=sys.stderr)
        sys.exit(EXIT_REFUSED)
    except Exception as err:  # noqa: BLE001 - classified, then re-raised unless it is a folder problem
        refuse_if_unwritable(err)
        raise
    summary = sweep_summary.outcome["summary"]
    if summary and summary["failed"]:
        print(f"autovae: {len(summary['failed'])} of {len(summary['jobs'])} jobs did not complete: "
              f"{', '.join(summary['failed'][:5])}{' ...' if len(summary['failed']) > 5 else ''}", file=sys.stderr)
        sys.exit(EXIT_FAILED)


def exit_if_failed(result: dict[str, Any]) -> None:
    """A single run that did not complete exits 1 (its record stays); in a multirun the job's record
    is what counts, and the multirun's own exit status says whether any job failed."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if not multirun and result.get("status") != "completed":
        sys.exit(EXIT_FAILED)


def _fmt(value: Any) -> str:
    try:
        return f"{float(value):.3f}" if abs(float(value)) < 1 else f"{float(value):.2f}"
    except (TypeError, ValueError):
        return str(value)


# (metrics.json key, what it is): each line of a run's end names the key it prints.
RESULT_ROWS = [(m.test(m.ELBO), "ELBO, closed-form KL"), (m.test(m.L11), "L_{1,1}, one-sample Monte Carlo"),
               (m.test(m.L0_50), "L_{0,50} (IWAE)"), (m.test(m.NLL), "NLL (-L_{0,K} over the first test images)"),
               (m.test(m.KL), "KL"), (m.test(m.RECON_EXPECTED), "reconstruction, E_q"),
               (m.test(m.RECON_AT_MEAN), "reconstruction at the mean"),
               (m.test(f"{m.TRAINED_SCALE}/{m.ELBO}"), "ELBO at the trained scale (before the refit)"),
               (m.test(m.FID), "FID"), (m.test(m.KID), "KID"), (m.val(m.ELBO), "validation ELBO")]


def bound_label(key: str) -> str:
    """test/bound_a0_k5 -> L_{0,5}: the bound's order and number of samples filled in."""
    match = re.fullmatch(r"(?:\w+/)?bound_a(.+)_k(\d+)", key)
    return f"L_{{{match.group(1)},{match.group(2)}}}" if match else key


def results_table(result: dict[str, Any]) -> str:
    """A run's end: its status, main figures, wall time and folder, as a small text table."""
    metrics = result.get("metrics") or {}
    lines = [f"Run {result.get('status', '?')}" + (f" ({result.get('reason')}: {result.get('error')})"
                                                   if result.get("status") != "completed" and result.get("error") else "")]
    nll_k = ((result.get("ran") or {}).get("split") or {}).get("nll_samples")
    labels = {**dict(RESULT_ROWS), **({m.test(m.NLL): f"NLL (-L_{{0,{nll_k}}})"} if nll_k else {})}
    rows = [(labels[key], _fmt(metrics[key]), key) for key, _ in RESULT_ROWS if key in metrics]
    for key in sorted(metrics):
        if key.startswith("test/bound_") and key not in dict(RESULT_ROWS):
            rows.append((bound_label(key), _fmt(metrics[key]), key))
    samples = m.test(m.FIDELITY_SAMPLES)
    if samples in metrics:
        rows.append(("FID/KID samples", f"{int(metrics[samples])}", samples))
    if "duration_s" in result:
        rows.append(("wall time", f"{result['duration_s'] / 60:.1f} min", ""))
    width = max((len(label) for label, _, _ in rows), default=0)
    digits = max((len(value) for _, value, _ in rows), default=0)
    lines += [f"  {label:<{width}}  {value:>{digits}}  {key}".rstrip() for label, value, key in rows]
    lines.append(f"  folder: {result.get('run_dir', '?')} (metrics.json)")
    return "\n".join(lines)
