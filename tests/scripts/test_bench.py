"""The benchmark as a smoke test: one short epoch of every contender, so that it cannot rot."""
import json

import pytest

from conftest import run_cli


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_bench_runs_every_contender(tmp_path, data_dir):
    out = tmp_path / "bench.json"
    proc = run_cli("scripts/bench.py", ["--epochs", "1", "--subset", "2000", "--device", "cpu", "--data-dir",
                                        str(data_dir), "--out", str(tmp_path), "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    results = json.loads(out.read_text())
    assert {"handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16"} <= set(results)
    for r in results.values():
        assert r["epoch_times"] and r["peak_rss_mb"] > 0
    assert "| autovae bf16 |" in proc.stdout and "| handwritten bf16 |" in proc.stdout
    assert "faster per epoch than autovae fp32" in proc.stdout
