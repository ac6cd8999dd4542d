"""Reads run directories (and optionally a W&B project) into per-cell results of the seed's tables.

A run is filed into a cell only when what it trained matches that table's definition: MNIST, the
plain VAE with the seed's 3x400 MLP and 20 latents, the table's likelihood (with its fixed variance,
scale or clamp) and the table's objective (KL with beta=1, or IWAE with K=50 for table (g)). What it
trained is read from metrics.json's ``ran`` block, written from the objects that trained; runs made
before that block existed are read from their resolved config, and say so. Runs that differ in
anything but the seed get different ``group`` keys: only runs of one group are averaged.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hydra.utils import instantiate

from autovae.distributions.likelihoods import Likelihood
from autovae.inference import metric_names as m
from autovae.lightning.progress import track
from autovae.paper.tables import COLUMNS, KL_OBJECTIVE, PRINTED_PROTOCOL, TABLES
from autovae.runs.atomic import jsonable
from autovae.runs.keys import NOT_PART_OF_A_GROUP, canonical, flatten, without
from autovae.runs.migration import upgrade_record
from autovae.runs.record import COMPLETED, FAILED, METRICS_FILE, as_float
from autovae.runs.scan import run_folders

# The seed's printed setup, shared by every table.
SEED_SETUP = {"dataset": "mnist", "model": "VAE", "latent_dim": 20,
              "architecture": {"_target_": "autovae.models.components.networks.mlp", "hidden": [400, 400, 400]}}


@dataclass
class RunRecord:
    table: str
    column: str
    status: str
    values: dict[str, float]
    source: str
    group: str = ""  # hash of the resolved config minus the seed: runs of one group are seeds
    config: dict = field(default_factory=dict, repr=False)  # flattened, for naming a clash's differences
    failure: str = ""  # why a run that did not complete failed: "diverged: non-finite test metrics ..."


@dataclass
class Collection:
    records: list[RunRecord] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # skipped or unfiled run directories, with the reason
    not_comparable: list[str] = field(default_factory=list)  # a table's runs that did not train its protocol in full
    notes: list[str] = field(default_factory=list)  # fixes that filed runs predate
    any_protocol: bool = False  # runs were filed whatever their length (make_table protocol=any)
    pooled: tuple[str, ...] = ()  # settings in which seeds of one model may differ (POOLED_FILE)
    pooled_why: str = ""


def _class_name(node: Any) -> str:
    return str((node or {}).get("_target_", "")).rsplit(".", 1)[-1]


def _described(node: dict, what: str, notes: list[str]) -> dict:
    """What a recorded config node (today's targets: runs/migration.py) is, in the words its class
    records in a run's ``ran`` block (``describe()``, as JSON holds it)."""
    try:
        return jsonable(instantiate(node).describe())
    except Exception as err:  # a class or argument that no longer exists: filed by name only
        notes.append(f"its {what} cannot be built today ({type(err).__name__}): filed by its class name")
        return {"name": _class_name(node)}


def facts_of(payload: dict) -> tuple[dict, list[str]]:
    """What a run trained, and the fixes it predates. Prefers the ``ran`` block written by the run."""
    config, notes = payload.get("config") or {}, []
    model = config.get("model") or {}
    net = model.get("net") or {}
    arch = {k: v for k, v in (net.get("architecture") or {}).items() if k != "_partial_"}
    ran = payload.get("ran")
    if ran:
        facts = dict(ran, architecture=ran.get("architecture", arch))
    else:
        notes.append("predates the `ran` record: filed from its resolved config")
        lik = net.get("likelihood") or config.get("likelihood") or {}
        pairing = payload.get("pairing") or []
        facts = {"dataset": (config.get("dataset") or {}).get("name"), "model": _class_name(net),
                 "latent_dim": net.get("latent_dim"), "architecture": arch,
                 "likelihood": _described(lik, "likelihood", notes),
                 "objective": _described(model.get("divergence") or config.get("divergence") or {}, "objective", notes),
                 "pairing": pairing}
    if "val_size" not in (config.get("dataset") or {}):
        notes.append("predates the validation split: its val/* metrics were computed on the test set")
    metrics = payload.get("metrics") or {}
    if m.test(m.RECON_BEFORE_EXPECTED) in metrics and m.test(m.RECON_EXPECTED) not in metrics:
        notes.append("predates test/recon_expected: its reconstruction is at the posterior mean")
    return facts, notes


def _matches(actual: dict, wanted: dict) -> bool:
    return all(_same(actual.get(k), v) for k, v in wanted.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, float) or isinstance(a, float):
        try:
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        except (TypeError, ValueError):
            return False
    return a == b


def setup_mismatch(facts: dict) -> str:
    """Why a run is not on the seed's setup (dataset, model, architecture, latent size), or ""."""
    for key, wanted in SEED_SETUP.items():
        have = facts.get(key)
        if not (_matches(have or {}, wanted) if isinstance(wanted, dict) else _same(have, wanted)):
            return f"{key} is {have!r}, the seed tables use {wanted!r}"
    return ""


def table_of(facts: dict, tables: str = "".join(TABLES)) -> tuple[str | None, str]:
    """(table, "") when the run matches a table's definition, else (None, the reason)."""
    mismatch = setup_mismatch(facts)
    if mismatch:
        return None, mismatch
    lik, obj = facts.get("likelihood") or {}, facts.get("objective") or {}
    for table in tables:
        if _matches(lik, TABLES[table].likelihood) and _matches(obj, TABLES[table].objective):
            return table, ""
    return None, f"likelihood {lik} with objective {obj} matches no seed table"


def column_of(config: dict, facts: dict) -> str | None:
    if config.get("column"):
        return config["column"]
    pairing = facts.get("pairing") or []
    if len(pairing) == 1 and pairing[0].get("pair") in COLUMNS:
        return pairing[0]["pair"]
    return None


def paper_unit_offset(facts: dict, image_shape) -> float:
    """The seed drops fixed likelihood constants; adding them back puts our bound in its units.
    Only valid for the settings the tables fix (variance 0.5, scale 1), which filing checks first."""
    return Likelihood.from_description(facts.get("likelihood") or {}).dropped_constant(math.prod(image_shape))


# Overrides that shorten or shrink a run (a debug run, a smoke test) and the values a full run has.
_FULL_LENGTH = {"trainer.limit_train_batches": (None, 1.0), "trainer.limit_val_batches": (None, 1.0),
                "trainer.limit_test_batches": (None, 1.0), "trainer.max_steps": (None, -1),
                "dataset.train_subset": (None,), "dataset.val_subset": (None,), "dataset.test_subset": (None,),
                "evaluation.test": (None, True)}


def protocol_gap(payload: dict) -> str:
    """Why a run did not train the seed tables' protocol in full (a shortened or subset run, other
    epochs, a completed run that stopped early), or "" when it did."""
    flat = flatten(payload.get("config") or {})
    for key, full in _FULL_LENGTH.items():
        if flat.get(key) not in full:
            return f"{key}={flat.get(key)!r} (a full run has {full[-1]!r})"
    for key, wanted in PRINTED_PROTOCOL.items():
        if not _same(flat.get(key), wanted):
            return f"{key}={flat.get(key)!r}, the paper's protocol has {wanted!r}"
    epochs, wanted = payload.get("epochs"), PRINTED_PROTOCOL["trainer.max_epochs"]
    if payload.get("status") == COMPLETED and epochs is not None and int(epochs) != wanted:
        return f"completed after {epochs} epochs, the paper's protocol trains {wanted}"
    return ""


def failure_of(payload: dict) -> str:
    """A failed run's reason and error in one line, for the table and the console."""
    reason, error = payload.get("reason") or "failed", str(payload.get("error") or "").splitlines()
    return f"{reason}: {error[0][:160]}" if error else reason


def group_key(config: dict, pooled: tuple[str, ...] = ()) -> tuple[str, dict]:
    """A hash of the resolved config without the seed, run bookkeeping and the ``pooled`` settings,
    and the config it was taken from (with the pooled settings, so that tables can name them)."""
    flat = canonical(without(flatten(config), NOT_PART_OF_A_GROUP))
    hashed = without(flat, pooled)
    digest = hashlib.sha1(json.dumps(hashed, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return digest, flat


def malformed(payload: Any) -> str:
    """What makes a metrics.json unusable as a run record (its shape, not its values), or ""."""
    if not isinstance(payload, dict):
        return f"the record is a {type(payload).__name__}, not an object"
    for key, kind in (("status", str), ("config", dict), ("metrics", dict), ("ran", dict)):
        if key in payload and payload[key] is not None and not isinstance(payload[key], kind):
            return f"its {key!r} is a {type(payload[key]).__name__}, not a {kind.__name__}"
    if "status" not in payload or not isinstance(payload.get("config"), dict):
        return "it has no status or no config"
    return ""


def record_from(payload: dict, source: str, table: str | None = None, column: str | None = None,
                protocol: bool = True, pooled: tuple[str, ...] = ()) -> tuple[RunRecord | None, list[str]]:
    """A run as a table record, or None with the reason it belongs to no seed table. With ``protocol``,
    a run of a table that did not train the paper's protocol in full is not filed either."""
    payload = upgrade_record(payload)  # records of older layouts read in today's (runs/migration.py)
    config = payload.get("config") or {}
    facts, notes = facts_of(payload)
    reason = ""
    if table is None:
        table, reason = table_of(facts)
    column = column or column_of(config, facts)
    if table is None:
        return None, [f"{source}: not part of any seed table ({reason})"]
    if column is None:
        return None, [f"{source}: not part of any seed table (its pairing is not one of the seed's columns)"]
    metrics = payload.get("metrics") or {}
    bound_key = TABLES[table].bound_key
    image_shape = facts.get("image_shape") or (config.get("dataset") or {}).get("image_shape") or (1, 28, 28)
    recon = metrics.get(m.test(m.RECON_EXPECTED), metrics.get(m.test(m.RECON_BEFORE_EXPECTED)))
    values = {"bound": as_float(metrics.get(bound_key)) + paper_unit_offset(facts, image_shape),
              "recon": as_float(recon), "recon_at_mean": as_float(metrics.get(m.test(m.RECON_AT_MEAN))),
              "fid": as_float(metrics.get(m.test(m.FID))),
              "kid": as_float(metrics.get(m.test(m.KID))),
              "fid_samples": as_float(metrics.get(m.test(m.FIDELITY_SAMPLES)))}
    gap = protocol_gap(payload) if protocol else ""
    if gap:
        return None, [f"{NOT_COMPARABLE}{source}: ({table}) {column}: {gap}"]
    group, flat = group_key(config, pooled)
    status = payload.get("status", FAILED)
    rec = RunRecord(table, column, status, values, source, group, flat,
                    failure_of(payload) if status != COMPLETED else "")
    return rec, [f"{source}: {n}" for n in notes]


NOT_COMPARABLE = "not comparable with the paper: "


def add_record(out: Collection, payload: dict, source: str, **kwargs) -> None:
    problem = malformed(payload)
    if problem:
        out.problems.append(f"{source}: malformed {METRICS_FILE} ({problem})")
        return
    rec, messages = record_from(payload, source, **kwargs)
    if rec is None:
        for message in messages:
            if message.startswith(NOT_COMPARABLE):
                out.not_comparable.append(message.removeprefix(NOT_COMPARABLE))
            else:
                out.problems.append(message)
    else:
        out.records.append(rec)
        out.notes += messages


def collect_runs(root: str | Path, protocol: bool = True) -> Collection:
    """Every run folder under ``root``; with ``protocol`` (the default), a run that did not train the
    paper's protocol in full is listed as not comparable instead of filed."""
    root = Path(root)
    out = Collection()
    out.pooled, out.pooled_why = pooled_settings(root)
    run_dirs = run_folders(root)
    with track(f"reading run folders under {root}", len(run_dirs), unit="folders") as task:
        for run_dir in run_dirs:
            _collect_folder(out, run_dir, protocol)
            task.advance()
    return out


# A folder of runs may declare settings in which its seeds differ without being different models, with
# the reason: YAML {keys: [dotted config keys], why: text}. Written by hand where, say, seeds of one
# table ran on machines with and without bf16; every table rendered from the folder names what it pooled.
POOLED_FILE = "pooled.yaml"


def pooled_settings(root: Path) -> tuple[tuple[str, ...], str]:
    """The settings ``root/pooled.yaml`` pools across seeds and why, or nothing; a malformed file is an error."""
    path = root / POOLED_FILE
    if not path.is_file():
        return (), ""
    declared = yaml.safe_load(path.read_text())
    keys = declared.get("keys") if isinstance(declared, dict) else None
    why = declared.get("why") if isinstance(declared, dict) else None
    if not (isinstance(keys, list) and keys and all(isinstance(k, str) and k for k in keys)
            and isinstance(why, str) and why.strip()):
        raise ValueError(f"{path}: expected {{keys: [dotted config keys], why: <the reason>}}, got {declared!r}")
    return tuple(keys), why.strip()


def _collect_folder(out: Collection, run_dir: Path, protocol: bool) -> None:
    """Files one run folder's metrics.json, or says why it cannot be filed."""
    path = run_dir / METRICS_FILE
    try:
        payload = json.loads(path.read_text())
    except FileNotFoundError:
        out.problems.append(f"{run_dir}: no {METRICS_FILE} (never started or still writing)")
        return
    except ValueError as err:
        out.problems.append(f"{run_dir}: unreadable {METRICS_FILE} ({type(err).__name__}: {err})")
        return
    problem = malformed(payload)
    if problem:
        out.problems.append(f"{run_dir}: malformed {METRICS_FILE} ({problem})")
        return
    status = payload["status"]
    if status not in (COMPLETED, FAILED):
        out.problems.append(f"{run_dir}: status {status!r}, not finished")
        return
    add_record(out, payload, str(run_dir), protocol=protocol, pooled=out.pooled)


def collect_wandb(project: str, protocol: bool = True, api=None) -> Collection:
    """Runs of a W&B project (``entity/project``): each run's logged ``config`` and ``ran`` record
    (``autovae.lightning.loggers.dashboard_config``) and its summary, filed as a run folder's metrics.json is."""
    if api is None:
        import wandb

        api = wandb.Api()
    out = Collection()
    for run in api.runs(project):
        logged = dict(run.config)
        source = f"wandb:{'/'.join(run.path)}"
        if not isinstance(logged.get("config"), dict) or not isinstance(logged.get("ran"), dict):
            out.problems.append(f"{source}: no autovae config logged (runs before autovae logged its config "
                                "to W&B cannot be filed; use make table runs=<folder> for them)")
            continue
        status = COMPLETED if run.state == "finished" else FAILED
        payload = {"config": logged["config"], "ran": logged["ran"], "status": status,
                   "metrics": {k: v for k, v in dict(run.summary).items() if isinstance(v, (int, float))}}
        add_record(out, payload, source, protocol=protocol)
    return out


def auto_table_of(payload: dict) -> tuple[str | None, str]:
    """The KL table (a)-(f) of a searched run's likelihood, whatever Renyi order trained it, or the reason
    it belongs to none: the search may choose any order; its run is reported in its likelihood's table."""
    facts, _ = facts_of(payload)
    if setup_mismatch(facts):
        return None, setup_mismatch(facts)
    table = next((t for t, seed in TABLES.items() if seed.objective == KL_OBJECTIVE
                  and _matches(facts.get("likelihood") or {}, seed.likelihood)), None)
    return table, "" if table else f"likelihood {facts.get('likelihood')} matches no seed table"


__all__ = ["Collection", "RunRecord", "add_record", "auto_table_of", "collect_runs", "collect_wandb", "record_from",
           "table_of", "TABLES"]
