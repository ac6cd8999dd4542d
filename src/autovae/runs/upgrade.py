"""Rewrites the run records of a folder in today's layout (``python -m autovae.runs.upgrade <folder>``).

Reading needs none of this (``read_metrics`` upgrades on read); rewriting makes the files
themselves current, for tools that read metrics.json without autovae."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from autovae.runs.atomic import write_json_atomic
from autovae.runs.migration import upgrade_record
from autovae.runs.record import METRICS_FILE
from autovae.runs.scan import run_folders


def upgrade_folder(root: str | Path) -> list[Path]:
    """Rewrites, atomically, every metrics.json under ``root`` not in today's layout; returns those rewritten."""
    rewritten = []
    for path in (folder / METRICS_FILE for folder in run_folders(root)):
        if not path.is_file():
            continue
        payload = json.loads(path.read_text())
        upgraded = upgrade_record(payload)
        if upgraded is not payload:
            write_json_atomic(path, upgraded)
            rewritten.append(path)
    return rewritten


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m autovae.runs.upgrade <runs folder>")
    done = upgrade_folder(sys.argv[1])
    print(f"rewrote {len(done)} metrics.json file(s) in today's layout")
