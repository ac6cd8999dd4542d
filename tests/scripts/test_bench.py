"""The benchmark as a smoke test: one short epoch of every contender, so that it cannot rot."""
import json

import pytest

from conftest import run_cli


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_bench_runs_every_contender(tmp_path, data_dir):
    out = tmp_path / "bench.json"
    proc = run_cli("scripts/bench.py", ["--epochs", "1", "--subset", "2000", "--device", "cpu", "--data-dir",
                                        str(data_dir), "--out", str(tmp_path), "--json", str(out),
                                        "--repeats", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    results = json.loads(out.read_text())
    assert {"handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16",
            "autovae bf16, 2 jobs x 1 thread"} <= set(results)
    assert all(r["torch_threads"] == 1 for r in results["autovae bf16, 2 jobs x 1 thread"])
    for name, runs in results.items():  # training contenders run once per round, interleaved
        assert len(runs) == (2 if name != "pythae" else 1)
        assert all(r["epoch_times"] and r["peak_rss_mb"] > 0 for r in runs)
    assert "| autovae bf16 |" in proc.stdout and "| handwritten bf16 |" in proc.stdout
    assert "faster per epoch than autovae fp32" in proc.stdout and "Medians over 2 round(s)" in proc.stdout
    assert "epochs per hour of one job with both threads" in proc.stdout
