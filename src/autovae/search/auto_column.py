"""The "Auto" column of the seed tables: the best trial of an AutoVAE study, read from its run folder."""
from __future__ import annotations

import json
from pathlib import Path

from autovae.paper.collect import Collection, add_record, auto_table_of
from autovae.runs.record import METRICS_FILE
from autovae.search.study import make_storage


def collect_study(study_name: str, storage: str | None, log_dir: str | Path = "outputs",
                  protocol: bool = True) -> Collection:
    """The study's best trial as the Auto record of its likelihood's table; with ``protocol``, only a
    trial that trained the paper's protocol in full is filed (a pruned search's short trials are not)."""
    import optuna

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
    if not any(key.startswith("test/") for key in payload.get("metrics") or {}):
        out.problems.append(
            f"study {study_name}: best trial {best.number} evaluated the validation split only, as every trial "
            f"does; retrain its pairing for the Auto column: `python scripts/search_report.py "
            f"search.study_name={study_name}` writes column/searched.yaml, then run the table's sweep with "
            f"column=searched (docs/search.md) and file it with runs=FOLDER")
        return out
    table, reason = auto_table_of(payload)
    if table is None:
        out.problems.append(f"study {study_name} trial {best.number}: {reason}")
        return out
    add_record(out, payload, f"study {study_name} trial {best.number}", table=table, column="Auto",
               protocol=protocol)
    return out
