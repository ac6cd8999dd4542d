"""The benchmark as a smoke test: one short epoch of every contender, so that it cannot rot."""
import json

import pytest
from conftest import ROOT, run_cli


def run_bench(args):
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_bench_runs_every_contender(tmp_path, data_dir):
    out = tmp_path / "bench.json"
    proc = run_bench(["--epochs", "1", "--subset", "2000", "--device", "cpu", "--data-dir",
                                        str(data_dir), "--out", str(tmp_path), "--json", str(out),
                                        "--repeats", "2", "--breakdown", "--breakdown-steps", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    results = json.loads(out.read_text())
    assert {"handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16",
            "autovae bf16, 2 jobs x 1 thread", "handwritten bf16 batch 100", "autovae bf16 batch 100"} <= set(results)
    assert all(r["torch_threads"] == 1 for r in results["autovae bf16, 2 jobs x 1 thread"])
    for name, runs in results.items():  # training contenders run once per round, interleaved
        assert len(runs) == (1 if name in ("pythae", "step breakdown") else 2)
        if name == "step breakdown":
            continue
        assert all(r["epoch_times"] and r["peak_rss_mb"] > 0 for r in runs)
    assert "| autovae bf16 |" in proc.stdout and "| handwritten bf16 |" in proc.stdout
    assert "Machine: " in proc.stdout and "softplus on the CPU: " in proc.stdout  # figures differ between CPUs
    # the converged setup's batch, where the step's overhead outside the products weighs most, paired likewise
    small = next(line for line in proc.stdout.splitlines() if line.startswith("| autovae bf16 batch 100 |"))
    assert small.split("|")[4].strip().endswith("x") and small.split("|")[5].strip() == "handwritten bf16 batch 100"
    assert "faster per epoch than autovae fp32" in proc.stdout and "Medians over 2 round(s)" in proc.stdout
    assert "epochs per hour of one job with both threads" in proc.stdout
    breakdown = results["step breakdown"][0]
    for precision in ("fp32", "bf16"):
        assert breakdown[precision]["gemm_ms"] > 0 and set(breakdown[precision]["phases_ms"]) >= {"encoder", "backward"}
    assert "matrix products alone at the same shapes" in proc.stdout
    assert set(breakdown["adam_subnormal"]) == {"keep_ms", "flush_ms"} and "of its moments subnormal" in proc.stdout


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_bench_times_the_inception_extractors(tmp_path, data_dir, inception_weights):
    out = tmp_path / "bench.json"
    training = ["handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16",
                "autovae bf16, 2 jobs x 1 thread", "pythae"]
    proc = run_bench(["--device", "cpu", "--data-dir", str(data_dir), "--out", str(tmp_path),
                                        "--json", str(out), "--inception", "--inception-images", "8", "--inception-weights", str(inception_weights),
                                        "--skip", *training, "--small-batch", "0"])
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-2000:]
    result = json.loads(out.read_text())["inception"][0]
    for name in ("torch-fidelity", "fast", "fast bf16"):
        assert result[f"inception_images_per_s_{name}"] > 0
    assert result["inception_max_rel_diff_fast"] <= 1e-4 < result["inception_max_rel_diff_fast bf16"]
    assert "| fast | " in proc.stdout and "FID from 10000 samples" in proc.stdout
    # the ceiling an exact fp32 extractor cannot pass: Inception-v3 at 299x299 is 11.4 GFLOP an image
    assert 11.3 < result["inception_gflop_per_image"] < 11.5 and result["fp32_matmul_gflop_per_s"] > 0
    assert "an exact fp32 extractor can reach at most" in proc.stdout


def test_the_breakdowns_matrix_products_are_those_of_a_training_step():
    """The GEMM list that the breakdown times alone must be the step's own: the FLOPs that torch counts in
    a forward and backward pass of the seed model equal those of the list, product for product."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from autovae.inference.objectives import ELBO
    from benchmarks.seed import seed, seed_model
    from benchmarks.step import gemm_flops, gemm_shapes

    s = seed()
    net = seed_model(torch.device("cpu"))
    with FlopCounterMode(display=False) as counter:
        net.objective(torch.rand(s.batch, *s.image_shape), ELBO()).loss.backward()
    counts = counter.get_flop_counts()["Global"]
    products = sum(v for op, v in counts.items() if str(op) in ("aten.mm", "aten.addmm"))
    assert products == counter.get_total_flops() == gemm_flops(gemm_shapes(s.batch))


def test_the_nll_products_timed_alone_are_those_of_an_nll_pass():
    """The products that the NLL's time is compared with are the decoder's, at the pass's shapes:
    torch's FLOP count of decoding 1000 samples equals the list's."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.evaluation import nll_gemm_shapes
    from benchmarks.seed import seed, seed_model
    from benchmarks.step import gemm_flops

    net = seed_model(torch.device("cpu")).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net.decode(torch.randn(1, 1000, seed().latent))
    assert counter.get_total_flops() == gemm_flops(nll_gemm_shapes(1000)) > 0


def test_the_nll_density_is_timed_at_the_pass_shape_and_its_fused_estimate_adds_up():
    """The density's share is timed on a pass's logits and scaled to the NLL's passes; the estimate for a
    compiled density is the NLL less the eager density plus the compiled one, against the products."""
    import torch

    from benchmarks.evaluation import nll_density, nll_density_report

    ev = nll_density(torch.device("cpu"), rows=10, passes=500, steps=2)
    assert set(ev) == {"nll_density_s_per_1000_images"} and ev["nll_density_s_per_1000_images"] > 0
    line = nll_density_report({"nll_density_s_per_1000_images": 6.0, "nll_density_compiled_s_per_1000_images": 2.0,
                               "nll_density_compile_s": 4.0, "nll_density_compiled_max_diff_nats": 3e-4}, 4.0, 16.0)
    assert "6.0 s, 1.50x the products" in line and "3.00x faster" in line
    assert "about 12.0 s, 3.00x its products (estimated)" in line


def test_the_benchmark_times_the_seed_experiment_as_composed():
    """No constant of its own: the benchmark's model, batch and learning rate are experiment=autovae_mnist's."""
    from conftest import compose

    from benchmarks.seed import seed

    cfg = compose(["experiment=autovae_mnist"])
    s = seed()
    assert (s.hidden, s.latent, s.batch, s.lr) == (tuple(cfg.model.net.architecture.hidden), cfg.model.net.latent_dim,
                                                   cfg.dataset.batch_size, cfg.model.optimizer.lr) == ((400, 400, 400), 20, 1000, 1e-4)


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_exact_and_bf16_fid_compared_on_trained_runs(tmp_path, data_dir):
    from conftest import compose, tiny_overrides

    from autovae.app.train import run

    folders = []
    for column in ("N_N", "Lo_N"):
        folder = tmp_path / column
        assert run(compose(tiny_overrides(data_dir, folder, f"column={column}")))["status"] == "completed"
        folders.append(str(folder))
    out = tmp_path / "fid.json"
    proc = run_cli("scripts/fid_precision.py", [*folders, "--samples", "12", "--json", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert len(result["runs"]) == 2 and all(r["fid_exact"] > 0 and r["fid_bf16"] > 0 for r in result["runs"])
    assert result["max_abs_fid_diff"] == max(abs(r["fid_bf16"] - r["fid_exact"]) for r in result["runs"]) > 0
    assert "largest |FID bf16 - exact|" in proc.stdout
    assert [r["column"] for r in result["runs"]] == ["N||N", "Lo||N"]
    a, b = result["runs"]
    opposite = (a["fid_exact"] - b["fid_exact"]) * (a["fid_bf16"] - b["fid_bf16"]) < 0
    assert result["swapped_pairs"] == ([{"runs": folders, "fid_exact": [a["fid_exact"], b["fid_exact"]],
                                         "fid_bf16": [a["fid_bf16"], b["fid_bf16"]]}] if opposite else [])
    assert result["order_unchanged"] is not opposite
    again = run_cli("scripts/fid_precision.py", [*folders, "--samples", "12", "--json", str(out)])
    assert again.returncode == 0 and again.stdout.count("kept from") == 2  # nothing computed again
    assert json.loads(out.read_text()) == result
