"""Renders the seed's tables from sweep results.

  python scripts/make_table.py runs=outputs [wandb=ENTITY/PROJECT] [study=NAME [storage=URL]] [out=FOLDER] [name=table]
                               [protocol=paper|any]

Writes NAME.md, NAME.tex and NAME.csv (default table.*) into the runs folder (or out=FOLDER), prints
the Markdown, and lists run directories it skipped (corrupt, unfinished, outside the seed tables),
cells where runs of different configurations clash, and runs read from older records. A run is filed
into a paper cell only when it trained the paper's protocol in full (no limit_*_batches, subsets or
max_steps, the paper's epochs); protocol=any files every run, for a smoke test, and the tables say so.
"""
import sys
from pathlib import Path

from autovae.paper.claims import claims_markdown
from autovae.paper.collect import Collection, collect_runs, collect_wandb
from autovae.paper.render import clashes, failed_runs, markdown, tables_present, write_all
from autovae.runs.atomic import write_text_atomic
from autovae.search.auto_column import collect_study


def main(argv: list[str]) -> int:
    args = dict(a.split("=", 1) for a in argv if "=" in a)
    unknown = set(args) - {"runs", "wandb", "study", "storage", "log_dir", "out", "name", "protocol"}
    if unknown or args.get("protocol", "paper") not in ("paper", "any"):
        print(f"unknown arguments {sorted(unknown) or ['protocol=' + args['protocol']]}; valid: runs=FOLDER "
              "wandb=ENTITY/PROJECT study=NAME storage=URL log_dir=FOLDER out=FOLDER name=STEM protocol=paper|any",
              file=sys.stderr)
        return 2
    runs = args.get("runs", "outputs")
    protocol = args.get("protocol", "paper") == "paper"
    collection = collect_runs(runs, protocol=protocol)
    collection.any_protocol = not protocol
    extras: list[Collection] = []
    if args.get("wandb"):
        extras.append(collect_wandb(args["wandb"], protocol=protocol))
    if args.get("study"):  # the study's best trial fills "Auto", replacing hand-set Auto runs
        auto = collect_study(args["study"], args.get("storage"), args.get("log_dir", "outputs"), protocol=protocol)
        if auto.records:
            collection.records = [r for r in collection.records
                                  if not (r.column == "Auto" and r.table == auto.records[0].table)]
        extras.append(auto)
    for extra in extras:
        collection.records += extra.records
        collection.problems += extra.problems
        collection.not_comparable += extra.not_comparable
        collection.notes += extra.notes
    for path in write_all(collection, args.get("out", runs), args.get("name", "table")):
        print(f"wrote {path}", file=sys.stderr)
    present = tables_present(collection)
    if present:  # the claims each table makes, judged on these runs
        path = Path(args.get("out", runs)) / f"{args.get('name', 'table')}_claims.md"
        write_text_atomic(path, "\n".join(claims_markdown(collection, t) for t in present))
        print(f"wrote {path}", file=sys.stderr)
    print(markdown(collection))
    for problem in collection.problems:
        print(f"skipped: {problem}", file=sys.stderr)
    for line in collection.not_comparable:
        print(f"not comparable with the paper: {line}", file=sys.stderr)
    for line in failed_runs(collection):
        print(f"failed: {line}", file=sys.stderr)
    for clash in clashes(collection):
        print(f"clash: {clash}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
