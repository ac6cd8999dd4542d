"""Training speed and memory: autovae against a hand-written PyTorch loop and pythae, in one run.

The seed's MNIST model (784-400-400-400-20 MLP, batch 1000, Adam 1e-4, Bernoulli, N||N). Each
contender runs in its own process (clean peak-memory figures) on the same data and device:

  python scripts/bench.py [--epochs 3] [--subset 60000] [--device auto|cpu|cuda] [--compile]
                          [--eval] [--fid-samples 10000] [--skip pythae]

pythae is imported from .bench-site/ (`make bench-env` installs it there, apart from .venv).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_SITE = ROOT / ".bench-site"
HIDDEN, LATENT, BATCH, LR = (400, 400, 400), 20, 1000, 1e-4


def load_mnist(data_dir: str, subset: int):
    from autovae.data.datamodule import ImageDataModule

    dm = ImageDataModule("mnist", data_dir, batch_size=BATCH, seed_dir=str(ROOT.parent / "shared" / "data"),
                         train_subset=subset, test_subset=1000)
    dm.setup()
    return dm


def peak_memory(device) -> dict:
    import torch

    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return out


def steady(epoch_times: list[float]) -> float:
    """Median epoch time after the first (which pays for allocation, compilation, caching)."""
    return statistics.median(epoch_times[1:] if len(epoch_times) > 1 else epoch_times)


# -- contenders ------------------------------------------------------------------------------
def handwritten(args, device) -> dict:
    """The practical limit: tensors on the device, slices by index, one fused loss."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    dm = load_mnist(args.data_dir, args.subset)
    x_all = dm.train_data.flatten(1).to(device)
    layers = lambda sizes: nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())][:-1])  # noqa: E731
    enc, dec = layers([784, *HIDDEN, 2 * LATENT]).to(device), layers([LATENT, *reversed(HIDDEN), 784]).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR)
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x_all), device=device).split(BATCH):
            x = x_all[idx]
            mu, raw = enc(x).chunk(2, -1)
            sigma = F.softplus(raw) + 1e-4
            z = mu + sigma * torch.randn_like(mu)
            rec = F.binary_cross_entropy_with_logits(dec(z), x, reduction="none").sum(-1)
            kl = 0.5 * (mu ** 2 + sigma ** 2 - 1 - 2 * sigma.log()).sum(-1)
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"epoch_times": times, "final_loss": loss.item(), "examples": len(x_all)}


def autovae(args, device, compile_model: bool = False) -> dict:
    import torch
    from hydra import compose, initialize_config_dir
    from lightning.pytorch.callbacks import Callback

    from autovae.resolvers import register
    from autovae.train import build

    class EpochTimer(Callback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_train_epoch_start(self, trainer, pl_module):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            _sync(device)
            self.times.append(time.perf_counter() - self.t0)

    register()
    overrides = ["logger=csv", "~callbacks", f"trainer.max_epochs={args.epochs}", "trainer.limit_val_batches=0",
                 "trainer.enable_progress_bar=false", "trainer.enable_checkpointing=false", "evaluation.test=false",
                 f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", f"dataset.train_subset={args.subset}",
                 f"model.optimizer.lr={LR}", f"paths.data_dir={args.data_dir}", f"paths.output_dir={args.out}/autovae",
                 "trainer.log_every_n_steps=50", f"compile={compile_model}"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    timer = EpochTimer()
    model, datamodule, trainer = build(cfg, extra_callbacks=[timer])
    trainer.fit(model, datamodule=datamodule)
    return {"epoch_times": timer.times, "final_loss": float(trainer.callback_metrics.get("train/loss", torch.nan)),
            "examples": len(datamodule.train_data)}


def pythae(args, device) -> dict:
    sys.path.insert(0, str(BENCH_SITE))
    import torch
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
    from pythae.trainers import BaseTrainer, BaseTrainerConfig
    from pythae.trainers.training_callbacks import TrainingCallback
    from torch import nn

    def mlp(sizes):
        return nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())][:-1])

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = mlp([784, *HIDDEN, 2 * LATENT])

        def forward(self, x):
            mu, log_var = self.net(x.flatten(1)).chunk(2, -1)
            return ModelOutput(embedding=mu, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = mlp([LATENT, *reversed(HIDDEN), 784])

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, 1, 28, 28))

    class EpochTimer(TrainingCallback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            _sync(device)
            self.times.append(time.perf_counter() - self.t0)

    dm = load_mnist(args.data_dir, args.subset)
    data = dm.train_data.cpu()
    cfg = VAEConfig(input_dim=(1, 28, 28), latent_dim=LATENT, reconstruction_loss="bce")
    model = VAE(cfg, encoder=Encoder(), decoder=Decoder())
    tcfg = BaseTrainerConfig(output_dir=str(Path(args.out) / "pythae"), num_epochs=args.epochs, learning_rate=LR,
                             per_device_train_batch_size=BATCH, no_cuda=device.type != "cuda",
                             steps_saving=None, steps_predict=None)
    timer = EpochTimer()
    from pythae.data.datasets import BaseDataset

    dataset = BaseDataset(data, torch.zeros(len(data)))  # pythae's own per-sample Dataset
    trainer = BaseTrainer(model, train_dataset=dataset, training_config=tcfg, callbacks=[timer])
    trainer.train()
    return {"epoch_times": timer.times, "final_loss": float("nan"), "examples": len(data)}


def evaluation(args, device) -> dict:
    """Memory and time of a K=5000 importance-sampled NLL over 1000 test images, and of FID sampling."""
    import torch

    from autovae.evaluation.bounds import BoundSpec, estimate_bound
    from autovae.evaluation.sampling import generate
    from autovae.models.networks import mlp
    from autovae.models.vae import VAE
    from autovae.divergences import KL
    from autovae.likelihoods import Bernoulli
    from autovae.pairing import uniform_pairing
    from functools import partial

    dm = load_mnist(args.data_dir, 1000)
    model = VAE(partial(mlp, hidden=HIDDEN), uniform_pairing({"name": "normal"}, {"name": "normal"}, LATENT),
                Bernoulli(), KL(), (1, 28, 28), LATENT, partial(torch.optim.Adam, lr=LR)).to(device).eval()
    x = dm.test_data.to(device)
    t0 = time.perf_counter()
    for batch in x.split(250):
        estimate_bound(model, batch, BoundSpec(0.0, 5000), chunk=500)
    _sync(device)
    out = {"nll_k5000_s_per_1000_images": time.perf_counter() - t0}
    if args.fid_samples:
        t0 = time.perf_counter()
        generate(model, args.fid_samples)
        _sync(device)
        out["generate_fid_samples_s"] = time.perf_counter() - t0
    return out


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


CONTENDERS = {"handwritten": handwritten, "autovae": autovae,
              "autovae+compile": lambda a, d: autovae(a, d, compile_model=True), "pythae": pythae,
              "evaluation": evaluation}


def worker(args) -> None:
    import torch

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    torch.manual_seed(0)
    result = CONTENDERS[args.worker](args, device)
    result.update(peak_memory(device), device=str(device), torch_threads=torch.get_num_threads())
    print("BENCH " + json.dumps(result))


def run_contender(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs), "--subset", str(args.subset),
           "--device", args.device, "--data-dir", args.data_dir, "--out", args.out, "--fid-samples", str(args.fid_samples)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH ")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    return json.loads(lines[-1][6:])


def report(results: dict[str, dict]) -> str:
    base = results.get("handwritten", {})
    base_s = steady(base["epoch_times"]) if "epoch_times" in base else None
    rows = ["| contender | s/epoch | examples/s | vs hand-written | peak RSS MB | peak GPU MB |", "|---|---|---|---|---|---|"]
    for name, r in results.items():
        if name == "evaluation":
            continue
        if "error" in r:
            rows.append(f"| {name} | failed: {r['error'].splitlines()[-1][:80]} | | | | |")
            continue
        s = steady(r["epoch_times"])
        ratio = f"{s / base_s:.2f}x" if base_s else ""
        rows.append(f"| {name} | {s:.3f} | {r['examples'] / s:,.0f} | {ratio} | {r['peak_rss_mb']:.0f} | "
                    f"{r.get('peak_gpu_mb', float('nan')):.0f} |")
    ev = results.get("evaluation")
    if ev and "error" not in ev:
        rows.append(f"\nEvaluation: K=5000 NLL over 1000 test images {ev['nll_k5000_s_per_1000_images']:.1f} s, "
                    f"peak RSS {ev['peak_rss_mb']:.0f} MB" + (f", peak GPU {ev['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in ev else "")
                    + (f"; {ev.get('generate_fid_samples_s', 0):.1f} s to draw the FID samples" if "generate_fid_samples_s" in ev else ""))
    return "\n".join(rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--subset", type=int, default=60000)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--compile", action="store_true", help="also time autovae with torch.compile")
    p.add_argument("--eval", action="store_true", help="also time and measure evaluation (K=5000 NLL)")
    p.add_argument("--fid-samples", type=int, default=0, help="with --eval: also draw this many FID samples")
    p.add_argument("--skip", nargs="*", default=[], choices=list(CONTENDERS))
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    names = ["handwritten", "autovae"] + (["autovae+compile"] if args.compile else []) + ["pythae"]
    names += ["evaluation"] if args.eval else []
    if not (BENCH_SITE / "pythae").is_dir() and "pythae" not in args.skip:
        print("pythae is not installed in .bench-site (run `make bench-env`); skipping it", file=sys.stderr)
        args.skip.append("pythae")
    results = {n: run_contender(n, args) for n in names if n not in args.skip}
    print(f"Seed MNIST model, {args.subset} images, {args.epochs} epochs, batch {BATCH}:")
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
