"""The benchmark's report: medians over rounds with their ranges, ratios paired within a round, the
step breakdown, the NLL, Inception throughput and the wall time of table (b) on this machine."""
from __future__ import annotations

import statistics

from benchmarks.common import steady
from benchmarks.evaluation import NLL_VARIANTS, nll_density_report
from benchmarks.inception import inception_report
from benchmarks.step import breakdown_report

PARALLEL = "autovae bf16, 2 jobs x 1 thread"
SMALL_BATCH = " batch "  # "autovae bf16 batch 100": a contender at --small-batch's batch size
BASELINE = {"autovae fp32": "handwritten fp32", "autovae bf16": "handwritten bf16",
            "autovae+compile bf16": "handwritten bf16", "pythae": "handwritten fp32", PARALLEL: "autovae bf16",
            "handwritten bf16": "handwritten fp32"}


def baseline_of(name: str) -> str:
    """The contender ``name``'s ratio is paired with: at a small batch, the hand-written loop at that batch."""
    base, _, size = name.partition(SMALL_BATCH)
    if size:
        return f"{BASELINE.get(base, base)}{SMALL_BATCH}{size}" if base in BASELINE else ""
    return BASELINE.get(name, "")


def _epoch_s(rounds: dict[str, list[dict]], name: str) -> list[float]:
    """The steady seconds per epoch of ``name`` in each round (empty where it failed or did not run)."""
    return [steady(r["epoch_times"]) for r in rounds.get(name, []) if "epoch_times" in r]


def _paired_ratio(rounds: dict[str, list[dict]], name: str, base: str) -> list[float]:
    """Time ratio name/base within each round: contenders of one round ran minutes apart, so the
    pair shares the machine's state (other tenants, clocks) better than medians over the run."""
    return [a / b for a, b in zip(_epoch_s(rounds, name), _epoch_s(rounds, base))]


def _median_range(values: list[float], fmt: str = "{:.2f}") -> str:
    text = fmt.format(statistics.median(values))
    return text if len(values) < 2 else f"{text} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(rounds: dict[str, list[dict]], epochs: int = 100, fid_samples: int = 10000) -> str:
    """Medians over the rounds, with the range over rounds in brackets; ratios are paired by round."""
    n = max(len(v) for v in rounds.values())
    rows = [f"Medians over {n} round(s) (range in brackets); ratios paired within each round.",
            "| contender | s/epoch | examples/s | ratio (time) | against | peak RSS MB | peak GPU MB |",
            "|---|---|---|---|---|---|---|"]
    for name, runs in rounds.items():
        if name in ("nll baseline", "evaluation", "table_b_run", "step breakdown", "inception"):
            continue
        failed = [r for r in runs if "error" in r]
        if failed:
            rows.append(f"| {name} | failed: {failed[0]['error'].strip().splitlines()[-1][:80]} | | | | | |")
            continue
        secs, base = _epoch_s(rounds, name), baseline_of(name)
        ratios = _paired_ratio(rounds, name, base)
        examples = runs[0]["examples"] / statistics.median(secs)
        rows.append(f"| {name} | {_median_range(secs, '{:.3f}')} | {examples:,.0f} | "
                    f"{_median_range(ratios) + 'x' if ratios else ''} | {base if ratios else ''} | "
                    f"{max(r['peak_rss_mb'] for r in runs):.0f} | "
                    f"{max(r.get('peak_gpu_mb', float('nan')) for r in runs):.0f} |")
    speedup = [1 / r for r in _paired_ratio(rounds, "autovae bf16", "autovae fp32")]
    if speedup:
        rows.append(f"\nautovae bf16 is {_median_range(speedup)}x faster per epoch than autovae fp32.")
    throughput = [2 / r for r in _paired_ratio(rounds, PARALLEL, "autovae bf16")]
    if throughput:
        rows.append(f"Two jobs of one thread each finish {_median_range(throughput)}x the epochs per hour of one "
                    f"job with both threads.")
    results = {name: runs[-1] for name, runs in rounds.items()}
    bf16 = statistics.median(_epoch_s(rounds, "autovae bf16")) if _epoch_s(rounds, "autovae bf16") else None
    ev = {**results.get("nll baseline", {}), **results.get("evaluation", {})}
    if all(f"nll_{name}" in ev for name, *_ in NLL_VARIANTS):
        t = {name: ev[f"nll_k5000_s_per_1000_images_{name}"] for name, *_ in NLL_VARIANTS}
        nll = {name: ev[f"nll_{name}"] for name, *_ in NLL_VARIANTS}
        rows.append(f"\nK=5000 NLL over 1000 test images ({ev['nll_model']} model): {t['baseline']:.1f} s for the naive baseline "
                    f"(fp32, 500 samples per pass, per-pixel BCE, glibc's allocator), {t['fp32']:.1f} s with today's code in fp32, "
                    f"{t['default']:.1f} s by default (bf16 networks): {t['baseline'] / t['default']:.2f}x faster than "
                    f"the baseline, {t['fp32'] / t['default']:.2f}x faster than fp32; NLL {nll['baseline']:.3f}, "
                    f"{nll['fp32']:.3f}, {nll['default']:.3f} nats; peak RSS {ev['peak_rss_mb']:.0f} MB"
                    + (f"; {ev['generate_fid_samples_s']:.1f} s to draw the FID samples" if "generate_fid_samples_s" in ev else ""))
    if "nll_gemm_s_per_1000_images" in ev and "nll_k5000_s_per_1000_images_default" in ev:
        g, total = ev["nll_gemm_s_per_1000_images"], ev["nll_k5000_s_per_1000_images_default"]
        rows.append(f"The default NLL's decoder products alone at its shapes (bf16, 1000 rows a pass): {g:.1f} s "
                    f"({ev['nll_gemm_gflops']:.0f} GFLOP/s); the NLL takes {total / g:.2f}x its products")
        if "nll_density_s_per_1000_images" in ev:
            rows.append(nll_density_report(ev, g, total))
    if "step breakdown" in results and "error" not in results["step breakdown"]:
        rows.append(breakdown_report(results["step breakdown"]))
    inception = results.get("inception")
    if inception and "error" not in inception:
        rows.append(inception_report(inception, fid_samples))
    tb = results.get("table_b_run")
    if tb and "error" not in tb and bf16:
        per_run = epochs * (bf16 + tb["validation_s"]) + tb["test_s"]
        rows.append(f"\nTable (b) estimate ({tb['precision']}): {epochs} epochs x ({bf16:.2f} s train + "
                    f"{tb['validation_s']:.2f} s validation) + {tb['test_s']:.1f} s test = {per_run / 60:.1f} min per run; "
                    f"14 runs one after another: {14 * per_run / 60:.0f} min on this machine"
                    + (f"; as two jobs of one thread each (assuming validation and test gain what training "
                       f"gains): {14 * per_run / 60 / statistics.median(throughput):.0f} min." if throughput else "."))
        if inception and "error" not in inception:
            for name in ("torch-fidelity", "fast"):  # each run's samples, plus the test set's features once
                fid_s = fid_samples / inception[f"inception_images_per_s_{name}"]
                rows.append(f"With FID from {fid_samples} samples by the {name} extractor: {14 * (per_run + fid_s) / 60 + fid_s / 60:.0f} min "
                            f"one after another ({fid_s / 60:.1f} min of features per run, the test set's once).")
    return "\n".join(rows)
