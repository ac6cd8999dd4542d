"""Reads run directories (and optionally a W&B project) into per-cell results of the seed's tables."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autovae.distributions.families import FAMILIES
from autovae.results import COMPLETED, FAILED, METRICS_FILE, as_float
from autovae.tables.paper import COLUMNS, TABLES


@dataclass
class RunRecord:
    table: str
    column: str
    status: str
    values: dict[str, float]
    source: str


@dataclass
class Collection:
    records: list[RunRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # skipped run directories, with the reason


def _class_name(node: Any) -> str:
    return str((node or {}).get("_target_", "")).rsplit(".", 1)[-1]


def table_of(config: dict) -> str | None:
    likelihood, divergence = _class_name(config.get("likelihood")), _class_name(config.get("divergence"))
    if divergence == "Renyi" and float(config["divergence"].get("alpha", 1)) == 0:
        divergence = "IWAE"
    for table, (_, lik, div, *_rest) in TABLES.items():
        if lik == likelihood and div == divergence:
            return table
    return None


def column_of(config: dict) -> str | None:
    if config.get("column"):
        return config["column"]
    pairing = config.get("pairing") or {}
    if _class_name(pairing) == "uniform_pairing":
        q, p = config["posterior"]["name"], config["prior"]["name"]
        label = f"{FAMILIES[q].symbol}||{FAMILIES[p].symbol}"
        return label if label in COLUMNS else None
    return None


def paper_unit_offset(config: dict) -> float:
    """The seed drops fixed likelihood constants; adding them back puts our bound in its units."""
    lik = config.get("likelihood") or {}
    pixels = math.prod(config["dataset"]["image_shape"])
    name = _class_name(lik)
    if name == "FixedScaleNormal":
        return pixels * 0.5 * math.log(2 * math.pi * float(lik.get("variance", 0.5)))
    if name == "FixedScaleLaplace":
        return pixels * math.log(2 * float(lik.get("scale", 1.0)))
    return 0.0


def table_of_likelihood(config: dict) -> str | None:
    """The KL table (a)-(f) of a run's likelihood, whatever divergence trained it (for "Auto")."""
    likelihood = _class_name(config.get("likelihood"))
    return next((t for t, (_, lik, div, *_r) in TABLES.items() if lik == likelihood and div == "KL"), None)


def record_from(config: dict, status: str, metrics: dict, source: str, table: str | None = None) -> RunRecord | str:
    table, column = table or table_of(config), column_of(config)
    if table is None or column is None:
        return f"{source}: not a seed-table configuration (likelihood/divergence/pairing)"
    bound_key = "test/bound_a0_k50" if table == "g" else "test/bound_a1_k1"
    values = {"bound": as_float(metrics.get(bound_key)) + paper_unit_offset(config),
              "recon": as_float(metrics.get("test/recon")),
              "fid": as_float(metrics.get("test/fid")), "kid": as_float(metrics.get("test/kid"))}
    return RunRecord(table, column, status, values, source)


def collect_runs(root: str | Path) -> Collection:
    out = Collection()
    root = Path(root)
    run_dirs = {p.parent for p in root.rglob(".hydra")} | {p.parent for p in root.rglob(METRICS_FILE)}
    for run_dir in sorted(run_dirs):
        path = run_dir / METRICS_FILE
        try:
            payload = json.loads(path.read_text())
            status, config = payload["status"], payload["config"]
        except FileNotFoundError:
            out.problems.append(f"{run_dir}: no {METRICS_FILE} (never started or still writing)")
            continue
        except (ValueError, KeyError, TypeError) as err:
            out.problems.append(f"{run_dir}: unreadable {METRICS_FILE} ({type(err).__name__}: {err})")
            continue
        if status not in (COMPLETED, FAILED):
            out.problems.append(f"{run_dir}: status {status!r}, not finished")
            continue
        rec = record_from(config, status, payload.get("metrics") or {}, str(run_dir))
        (out.records if isinstance(rec, RunRecord) else out.problems).append(rec)
    return out


def collect_wandb(project: str) -> Collection:
    """Runs of a W&B project (``entity/project``), using each run's config and summary."""
    import wandb

    out = Collection()
    for run in wandb.Api().runs(project):
        config = dict(run.config)
        if "likelihood" not in config:
            out.problems.append(f"wandb:{run.path}: no autovae config logged")
            continue
        status = COMPLETED if run.state == "finished" else FAILED
        rec = record_from(config, status, dict(run.summary), f"wandb:{'/'.join(run.path)}")
        (out.records if isinstance(rec, RunRecord) else out.problems).append(rec)
    return out


def collect_study(study_name: str, storage: str | None, log_dir: str | Path = "outputs") -> Collection:
    """The "Auto" column: the best trial of an AutoVAE study, read from its run directory."""
    import optuna

    from autovae.search.study import make_storage

    out = Collection()
    study = optuna.load_study(study_name=study_name,
                              storage=make_storage(storage, Path(log_dir) / "search", study_name, 60, 120, 0))
    try:
        best = study.best_trials[0]
    except (ValueError, IndexError):
        out.problems.append(f"study {study_name}: no completed trial")
        return out
    run_dir = Path(best.user_attrs.get("run_dir", ""))
    try:
        payload = json.loads((run_dir / METRICS_FILE).read_text())
    except (OSError, ValueError) as err:
        out.problems.append(f"study {study_name}: best trial {best.number}'s run directory unreadable ({err})")
        return out
    config = dict(payload["config"], column="Auto")
    # The search may pick any Renyi order; its run is reported in its likelihood's L_{1,1} table.
    rec = record_from(config, payload["status"], payload.get("metrics") or {}, f"study {study_name} trial {best.number}",
                      table=table_of_likelihood(config))
    (out.records if isinstance(rec, RunRecord) else out.problems).append(rec)
    return out
