"""`make search-report STUDY=name`: prints and saves the study's report (Markdown and PNG plots).

  python scripts/search_report.py search.study_name=NAME [search.storage=URL] [out=FOLDER]
"""
import sys
from pathlib import Path

import optuna

from autovae.search.report import summary, write_report
from autovae.search.study import make_storage


def main(argv: list[str]) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    name = args.get("search.study_name") or args.get("study")
    if not name:
        print(__doc__, file=sys.stderr)
        return 2
    log_dir = Path(args.get("paths.log_dir", "outputs"))
    journal = log_dir / "search" / f"{name}.journal"
    if not args.get("search.storage") and not journal.exists():  # do not leave an empty journal behind
        print(f"no study {name!r}: {journal} does not exist (python search.py search.study_name={name} makes it)",
              file=sys.stderr)
        return 1
    storage = make_storage(args.get("search.storage"), log_dir / "search", name, 60, 120, 0)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        print(f"no study {name!r} in {args.get('search.storage') or log_dir / 'search' / (name + '.journal')}", file=sys.stderr)
        return 1
    out = Path(args.get("out", log_dir / "search" / name / "report"))
    for path in write_report(study, out):
        print(f"wrote {path}", file=sys.stderr)
    print(summary(study))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
