"""Exact FID against bf16 FID on the same samples of trained runs: how far bf16 Inception features move
FID and KID, and whether the runs' order changes (docs/performance.md).

  python scripts/fid_precision.py RUN_DIR [RUN_DIR ...] [--samples 1000] [--json out.json]

Each run folder must hold its checkpoint. Every run draws --samples prior samples with seed 0; both
extractors see the same samples and the same first --samples test images, whose features each extractor
computes once for all runs. The JSON lists every pair of runs whose order by FID differs between the two.
Where --json already holds a run's row for the same samples and weights, that row is kept and the run is
not computed again, so runs can be added as they finish; the JSON is written after every run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+")
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--json")
    p.add_argument("--weights", default=os.environ.get("AUTOVAE_INCEPTION_WEIGHTS", str(
        ROOT.parent / "shared" / "weights" / "inception-v3-compat-fid-only.pth")))
    args = p.parse_args(argv)

    import torch

    import autovae
    from autovae.data import datamodule_from
    from autovae.inference.sampling import to_uint8_rgb
    from autovae.lightning.callbacks.fidelity import fidelity_metrics

    from autovae.runs.atomic import write_json_atomic

    rows, reference = [], None
    earlier = earlier_rows(args.json, args.samples, Path(args.weights).name)
    with tempfile.TemporaryDirectory(prefix="fid-precision-") as cache_root:
        for folder in args.runs:
            if folder in earlier:
                rows.append(earlier[folder])
                print(f"{folder}: kept from {args.json}", flush=True)
                continue
            run = autovae.load_run(folder)
            if reference is None:
                dm = datamodule_from(run.config)
                dm.setup()
                reference = to_uint8_rgb(dm.test_data[: args.samples]).cpu()
            torch.manual_seed(0)
            samples = to_uint8_rgb(run.sample(args.samples)).cpu()
            row = {"run": folder, "column": run.config.get("column")}
            for name, bf16 in (("exact", False), ("bf16", True)):
                t0 = time.perf_counter()
                m = fidelity_metrics(samples, reference, isc=False, feature_extractor_weights_path=args.weights,
                                     cuda=False, bf16=bf16, kid_subset_size=min(1000, args.samples),
                                     cache_root=cache_root, reference_cache=f"reference-{name}")
                row.update({f"fid_{name}": m["fid"], f"kid_{name}": m["kid"],
                            f"seconds_{name}": time.perf_counter() - t0})
            rows.append(row)
            print(f"{folder}: FID {row['fid_exact']:.3f} exact, {row['fid_bf16']:.3f} bf16; "
                  f"KID {row['kid_exact']:.5f}, {row['kid_bf16']:.5f}", flush=True)
            if args.json:  # after every run, so that a stopped comparison keeps what it computed
                write_json_atomic(args.json, summary(rows, args))
    result = summary(rows, args)
    swapped, worst, worst_kid = result["swapped_pairs"], result["max_abs_fid_diff"], result["max_abs_kid_diff"]
    print(f"{len(rows)} runs, {args.samples} samples each: largest |FID bf16 - exact| {worst:.3f}, "
          f"largest |KID bf16 - exact| {worst_kid:.5f}; order by FID "
          f"{'unchanged' if not swapped else f'changed in {len(swapped)} pairs'}")
    for pair in swapped:
        print(f"  {pair['runs'][0]} and {pair['runs'][1]}: exact FID {pair['fid_exact'][0]:.3f} and "
              f"{pair['fid_exact'][1]:.3f}, bf16 {pair['fid_bf16'][0]:.3f} and {pair['fid_bf16'][1]:.3f}")
    if args.json:
        write_json_atomic(args.json, result)
    return 0


def summary(rows: list[dict], args) -> dict:
    """The JSON of the comparison so far: every row, the largest differences, the pairs whose order flips."""
    swapped = swapped_pairs(rows)
    return {"samples": args.samples, "weights": Path(args.weights).name, "runs": rows,
            "max_abs_fid_diff": max(abs(r["fid_bf16"] - r["fid_exact"]) for r in rows),
            "max_abs_kid_diff": max(abs(r["kid_bf16"] - r["kid_exact"]) for r in rows),
            "order_unchanged": not swapped, "swapped_pairs": swapped}


def earlier_rows(path: str | None, samples: int, weights: str) -> dict[str, dict]:
    """The rows an earlier run of this script wrote to ``path`` with the same samples and weights, by run."""
    if not path or not Path(path).exists():
        return {}
    earlier = json.loads(Path(path).read_text())
    if earlier.get("samples") != samples or earlier.get("weights") != weights:
        return {}
    return {row["run"]: row for row in earlier["runs"]}


def swapped_pairs(rows: list[dict]) -> list[dict]:
    """Every pair of runs that exact and bf16 FID put in opposite orders, with both FIDs of each."""
    pairs = []
    for i, a in enumerate(rows):
        for b in rows[i + 1:]:
            if (a["fid_exact"] - b["fid_exact"]) * (a["fid_bf16"] - b["fid_bf16"]) < 0:
                pairs.append({"runs": [a["run"], b["run"]], "fid_exact": [a["fid_exact"], b["fid_exact"]],
                              "fid_bf16": [a["fid_bf16"], b["fid_bf16"]]})
    return pairs


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
