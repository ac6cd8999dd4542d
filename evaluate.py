"""Evaluate a finished run again: `python evaluate.py run=FOLDER [evaluation.nll_samples=5000] [callbacks=fidelity]`.

Writes <FOLDER>/evaluations/<time>.json (name=... to choose) and leaves the run's metrics.json as it is.
"""
import sys

from autovae.app.resolvers import register

register()


def main(argv: list[str]) -> int:
    from autovae.app.cli import EXIT_REFUSED, known_errors, quiet_third_party, results_table
    from autovae.app.reevaluate import reevaluate

    opts = [a for a in argv if not a.startswith(("run=", "name="))]
    given = dict(a.split("=", 1) for a in argv if a.startswith(("run=", "name=")))
    if "run" not in given:
        print(__doc__, file=sys.stderr)
        return EXIT_REFUSED
    quiet_third_party()
    with known_errors(None):
        record = reevaluate(given["run"], opts, given.get("name"))
    print(results_table({**record, "status": "completed"}).rsplit("\n", 1)[0])
    print(f"  written: {record['written']} (the run's metrics.json is unchanged)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
