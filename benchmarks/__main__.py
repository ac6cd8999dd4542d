"""``python -m benchmarks``: runs each contender in a process of its own, round after round
(interleaved, so that a slow spell of the machine hits every contender), and prints the report."""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.common import BENCH_SITE, ROOT, machine, peak_memory
from benchmarks.evaluation import evaluation, table_b_run
from benchmarks.inception import inception_speed
from benchmarks.report import PARALLEL, SMALL_BATCH, report
from benchmarks.seed import seed
from benchmarks.step import step_breakdown
from benchmarks.training import autovae, handwritten, pythae

USAGE = """Training speed and memory: autovae against a hand-written PyTorch loop and pythae, in one run.

The seed's MNIST model, data and optimiser (experiment=autovae_mnist, composed from conf/). Each
contender runs in its own process (clean peak-memory figures) on the same data and device, in fp32
and in bf16 (networks under autocast, densities in fp32):

  python -m benchmarks [--epochs 3] [--subset 60000] [--device auto|cpu|cuda] [--compile]
                       [--eval] [--fid-samples 10000] [--inception] [--skip pythae]

--eval adds the K=5000 NLL over 1000 test images (a naive baseline, today's code in
fp32, and the default bf16 path) and the estimated wall time of table (b) on this machine.
--inception adds Inception-v3 features per second (torch-fidelity's extractor, autovae's exact fast
path, its bf16 form) and, with --eval, table (b)'s wall time with FID from --fid-samples (10,000).

pythae is imported from .bench-site/ (`make bench-env` installs it there, apart from .venv).
"""

CONTENDERS = {"handwritten fp32": handwritten, "handwritten bf16": lambda a, d, **k: handwritten(a, d, bf16=True, **k),
              "autovae fp32": autovae, "autovae bf16": lambda a, d, **k: autovae(a, d, precision="bf16-mixed", **k),
              "autovae+compile bf16": lambda a, d: autovae(a, d, compile_model=True, precision="bf16-mixed"),
              "pythae": pythae, "nll baseline": lambda a, d: evaluation(a, d, ("baseline",)),
              "evaluation": evaluation, "table_b_run": lambda a, d: table_b_run(a, d),
              "step breakdown": step_breakdown, "inception": inception_speed}
TRAINING = ("handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16", "autovae+compile bf16", PARALLEL)


def contender(name: str):
    """The function of contender ``name``; "<contender> batch <n>" is that contender at batch n."""
    base, _, size = name.partition(SMALL_BATCH)
    fn = CONTENDERS[base]
    return (lambda a, d: fn(a, d, batch=int(size))) if size else fn


def worker(args) -> None:
    import torch

    import lightning  # noqa: F401  (its import sets the NVML-based CUDA check, as in every contender that uses it)

    from autovae.lightning import cuda_check, denormals, host_allocator

    host_allocator.configure(args.host_allocator)  # every contender, the hand-written loop included
    denormals.configure("flush")  # likewise: train.py's default
    cuda_check.skip_nvml_check_without_nvml()  # likewise, as autovae's build does

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    torch.manual_seed(0)
    result = contender(args.worker)(args, device)
    result.update(peak_memory(device), device=str(device), torch_threads=torch.get_num_threads(),
                  host_allocator=host_allocator.configure(args.host_allocator))
    print("BENCH " + json.dumps(result))


def start_contender(name: str, args, threads: int | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "benchmarks", "--worker", name, "--epochs", str(args.epochs), "--subset", str(args.subset),
           "--device", args.device, "--data-dir", args.data_dir, "--out", args.out, "--fid-samples", str(args.fid_samples),
           "--host-allocator", args.host_allocator, "--breakdown-steps", str(args.breakdown_steps)]
    cmd += ["--run-dir", args.run_dir] if args.run_dir else []
    cmd += ["--inception-images", str(args.inception_images), "--inception-weights", args.inception_weights]
    if name == "nll baseline":  # the baseline keeps glibc's own allocator, too
        cmd[cmd.index("--host-allocator") + 1] = "system"
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish_contender(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    lines = [ln for ln in stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        return {"error": (stderr or stdout)[-1500:]}
    return json.loads(lines[-1][6:])


def run_contender(name: str, args) -> dict:
    if name == PARALLEL:  # the documented CPU sweep: two jobs of one thread each, side by side
        jobs = [finish_contender(p) for p in [start_contender("autovae bf16", args, threads=1) for _ in range(2)]]
        failed = [j for j in jobs if "error" in j]
        if failed:
            return failed[0]
        per_epoch = [statistics.mean(times) for times in zip(*(j["epoch_times"] for j in jobs))]
        return {**jobs[0], "epoch_times": per_epoch, "jobs": len(jobs)}
    return finish_contender(start_contender(name, args))


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--subset", type=int, default=60000)
    p.add_argument("--repeats", type=int, default=1,
                   help="rounds of the training contenders, interleaved; ratios are paired within a round")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--compile", action="store_true", help="also time autovae with torch.compile")
    p.add_argument("--eval", action="store_true", help="also time and measure evaluation (K=5000 NLL)")
    p.add_argument("--host-allocator", default="keep_freed", choices=["keep_freed", "system"],
                   help="glibc keeps freed tensor memory (autovae's default) or the system's behaviour, for all")
    p.add_argument("--run-dir", help="with --eval: time the NLL on this trained run folder's model (Bernoulli)")
    p.add_argument("--fid-samples", type=int, default=0, help="with --eval: also draw this many FID samples")
    p.add_argument("--breakdown", action="store_true",
                   help="also time one training step by phase, fp32 against bf16, beside its matrix products alone")
    p.add_argument("--breakdown-steps", type=int, default=30, help="steps timed by --breakdown (after 5 of warm-up)")
    p.add_argument("--small-batch", type=int, default=100,
                   help="also time hand-written and autovae bf16 at this batch size (the converged setup's; 0: not)")
    p.add_argument("--skip", nargs="*", default=[], choices=[*CONTENDERS, PARALLEL], metavar="CONTENDER")
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--table-epochs", type=int, default=100, help="epochs per run in the table (b) estimate")
    p.add_argument("--inception", action="store_true",
                   help="also time Inception-v3 features: torch-fidelity's, autovae's exact fast path, its bf16 form")
    p.add_argument("--inception-images", type=int, default=64, help="images timed by --inception")
    p.add_argument("--inception-weights", default=os.environ.get("AUTOVAE_INCEPTION_WEIGHTS", str(
        ROOT.parent / "shared" / "weights" / "inception-v3-compat-fid-only.pth")),
        help="the FID weights (default: $AUTOVAE_INCEPTION_WEIGHTS, else ../shared/weights)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    names = ["handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16", PARALLEL]
    names += [f"{n}{SMALL_BATCH}{args.small_batch}" for n in ("handwritten bf16", "autovae bf16")] if args.small_batch else []
    names += (["autovae+compile bf16"] if args.compile else []) + ["pythae"]
    names += ["nll baseline", "evaluation", "table_b_run"] if args.eval else []
    names += ["step breakdown"] if args.breakdown else []
    names += ["inception"] if args.inception else []
    if not (BENCH_SITE / "pythae").is_dir() and "pythae" not in args.skip:
        print("pythae is not installed in .bench-site (run `make bench-env`); skipping it", file=sys.stderr)
        args.skip.append("pythae")
    rounds: dict[str, list[dict]] = {n: [] for n in names if n not in args.skip}
    for round_ in range(args.repeats):  # interleaved, so that a slow spell of the machine hits every contender
        for name in rounds:
            if name.partition(SMALL_BATCH)[0] in TRAINING or round_ == 0:
                rounds[name].append(run_contender(name, args))
    examples = next((r["examples"] for runs in rounds.values() for r in runs if "examples" in r), args.subset)
    print(machine())
    print(f"Seed MNIST model, {examples} training images (after the validation split), {args.epochs} epochs, "
          f"batch {seed().batch}:")
    print(report(rounds, args.table_epochs, args.fid_samples or 10000))
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=2))
    return 1 if any("error" in r for runs in rounds.values() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
