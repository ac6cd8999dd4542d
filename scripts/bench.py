"""Training speed and memory: autovae against a hand-written PyTorch loop and pythae, in one run.

The seed's MNIST model (784-400-400-400-20 MLP, batch 1000, Adam 1e-4, Bernoulli, N||N). Each
contender runs in its own process (clean peak-memory figures) on the same data and device, in fp32
and in bf16 (networks under autocast, densities in fp32):

  python scripts/bench.py [--epochs 3] [--subset 60000] [--device auto|cpu|cuda] [--compile]
                          [--eval] [--fid-samples 10000] [--inception] [--skip pythae]

--eval adds the K=5000 NLL over 1000 test images (a naive baseline, today's code in
fp32, and the default bf16 path) and the estimated wall time of table (b) on this machine.
--inception adds Inception-v3 features per second (torch-fidelity's extractor, autovae's exact fast
path, its bf16 form) and, with --eval, table (b)'s wall time with FID from --fid-samples (10,000).

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
def handwritten(args, device, bf16: bool = False) -> dict:
    """The practical limit: tensors on the device, slices by index, one fused loss. With bf16 the
    networks run under autocast and the loss is computed in fp32, as autovae does."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    dm = load_mnist(args.data_dir, args.subset)
    x_all = dm.train_data.flatten(1).to(device)
    layers = lambda sizes: nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())][:-1])  # noqa: E731
    enc, dec = layers([784, *HIDDEN, 2 * LATENT]).to(device), layers([LATENT, *reversed(HIDDEN), 784]).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR, fused=True)  # as autovae (conf/model/vae.yaml)
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x_all), device=device).split(BATCH):
            x = x_all[idx]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                mu, raw = enc(x).float().chunk(2, -1)
            sigma = F.softplus(raw) + 1e-4
            z = mu + sigma * torch.randn_like(mu)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = dec(z).float()
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            kl = 0.5 * (mu ** 2 + sigma ** 2 - 1 - 2 * sigma.log()).sum(-1)
            loss = (rec + kl).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return {"epoch_times": times, "final_loss": loss.item(), "examples": len(x_all)}


def autovae(args, device, compile_model: bool = False, precision: str = "32-true") -> dict:
    import torch
    from hydra import compose, initialize_config_dir
    from lightning.pytorch.callbacks import Callback

    from autovae.app.resolvers import register
    from autovae.app.train import build

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
                 "trainer.log_every_n_steps=50", f"compile={compile_model}", f"trainer.precision={precision}"]
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


def seed_model(device):
    """The seed's model as autovae builds it (MLP 3 x 400, 20 latents, N||N, Bernoulli), untrained."""
    from functools import partial

    from autovae.distributions.likelihoods import Bernoulli
    from autovae.distributions.pairing import uniform_pairing
    from autovae.models.components.networks import mlp
    from autovae.models.vae import VAE

    return VAE(partial(mlp, hidden=HIDDEN), uniform_pairing({"name": "normal"}, {"name": "normal"}, LATENT),
               Bernoulli(), (1, 28, 28), LATENT).to(device)


def _gemm_shapes(batch: int) -> list[tuple[str, int, int, int]]:
    """(kind, batch, in, out) of every matrix product in one training step of the seed's MLP: each layer's
    forward, its weight gradient, and its input gradient (all but the encoder's first layer, whose input
    needs none). Each costs 2 * batch * in * out FLOPs."""
    encoder, decoder = [784, *HIDDEN, 2 * LATENT], [LATENT, *reversed(HIDDEN), 784]
    shapes = []
    for sizes in (encoder, decoder):
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            kinds = ("forward", "weight grad") + (("input grad",) if (sizes is decoder or i) else ())
            shapes += [(kind, batch, a, b) for kind in kinds]
    return shapes


def gemm_flops(shapes) -> int:
    return sum(2 * m * a * b for _, m, a, b in shapes)


def _time_gemms(shapes, dtype, device, steps: int) -> float:
    """Seconds per step of the step's matrix products alone, in the layouts autograd gives them (the
    weight stored out x in; the weight gradient a product with a transposed operand)."""
    import torch
    import torch.nn.functional as F

    def product(kind, m, a, b):
        x, w, g = (torch.randn(*shape, device=device, dtype=dtype) for shape in ((m, a), (b, a), (m, b)))
        return {"forward": lambda: F.linear(x, w), "input grad": lambda: torch.mm(g, w),
                "weight grad": lambda: torch.mm(g.t(), x)}[kind]

    products = [product(*shape) for shape in shapes]
    for run in products:
        run()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        for run in products:
            run()
    _sync(device)
    return (time.perf_counter() - t0) / steps


def step_breakdown(args, device) -> dict:
    """Where one training step's time goes, fp32 against bf16: autovae's own model, loss and fused Adam
    without Lightning, timed phase by phase over ``--breakdown-steps`` steps after a warm-up, beside the
    same step's matrix products timed alone at the same shapes (what bf16 can speed up at most)."""
    import torch

    from autovae.inference.objectives import analytic_kl

    x_all = load_mnist(args.data_dir, args.subset).train_data.to(device)
    shapes = _gemm_shapes(BATCH)
    gflop = gemm_flops(shapes) / 1e9
    out = {"gemm_gflop_per_step": gflop}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        net = seed_model(device)
        opt = torch.optim.Adam(net.parameters(), lr=LR, fused=True)
        phases: dict[str, list[float]] = {}
        order = torch.randperm(len(x_all), device=device)
        for step in range(args.breakdown_steps + 5):
            idx = order[(step * BATCH) % max(1, len(x_all) - BATCH):][:BATCH]
            clock = _PhaseClock(device, phases if step >= 5 else {})
            x = x_all[idx]
            clock("batch")
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16), \
                    net.densities_in_fp32():
                q = net.posterior(x)
                clock("encoder")
                z = q.rsample((1,))
                logits = net.decode(z)
                clock("decoder")
                ll = net.likelihood.log_prob(x, logits)
                clock("likelihood")
                loss = -(ll.mean(0) - analytic_kl(q, net.prior())).mean()
                clock("kl and loss")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            clock("backward")
            opt.step()
            clock("adam")
        ms = {k: 1000 * statistics.median(v) for k, v in phases.items()}
        gemm = 1000 * _time_gemms(shapes, dtype, device, args.breakdown_steps)
        out[name] = {"phases_ms": ms, "step_ms": sum(ms.values()), "gemm_ms": gemm, "gemm_gflops": gflop / gemm * 1000}
    return out


class _PhaseClock:
    """Adds the time since the last call to ``phases[name]``, the device synchronized first."""

    def __init__(self, device, phases: dict[str, list[float]]):
        self.device, self.phases, self.t = device, phases, time.perf_counter()

    def __call__(self, name: str) -> None:
        _sync(self.device)
        now = time.perf_counter()
        self.phases.setdefault(name, []).append(now - self.t)
        self.t = now


def breakdown_report(b: dict) -> str:
    """The breakdown in words: the matrix products' share, and the rest that would allow 1.8x."""
    f, h = b["fp32"], b["bf16"]
    rest = {k: v["step_ms"] - v["gemm_ms"] for k, v in (("fp32", f), ("bf16", h))}
    phases = ", ".join(f"{k} {f['phases_ms'][k]:.1f}/{h['phases_ms'][k]:.1f}" for k in f["phases_ms"])
    needed = (f["gemm_ms"] - 1.8 * h["gemm_ms"]) / 0.8  # rest r (the same in both) with (G32 + r) / (G16 + r) = 1.8
    return (f"\nOne training step without Lightning (median ms, fp32/bf16): {phases}; step {f['step_ms']:.1f}/"
            f"{h['step_ms']:.1f} ms ({f['step_ms'] / h['step_ms']:.2f}x). Its {b['gemm_gflop_per_step']:.2f} GFLOP of "
            f"matrix products alone at the same shapes: {f['gemm_ms']:.1f} ms fp32 ({f['gemm_gflops']:.0f} GFLOP/s), "
            f"{h['gemm_ms']:.1f} ms bf16 ({h['gemm_gflops']:.0f} GFLOP/s): {f['gemm_ms'] / h['gemm_ms']:.2f}x. "
            f"Everything else: {rest['fp32']:.1f} ms fp32, {rest['bf16']:.1f} ms bf16. A 1.8x step needs that rest "
            f"below {needed:.1f} ms in both" + (" (it cannot be: the matrix products alone gain less)." if needed <= 0 else "."))


# (name, bf16 networks, images per batch, samples per pass or None for ~1000 rows, baseline likelihood)
NLL_VARIANTS = (("baseline", False, 250, 500, True), ("fp32", False, 1000, None, False),
                ("default", True, 1000, None, False))


def evaluation(args, device, variants: tuple[str, ...] = ("fp32", "default")) -> dict:
    """Time and memory of a K=5000 importance-sampled NLL over 1000 test images for ``variants``:
    a naive baseline (fp32, 500 samples per pass, per-pixel BCE, glibc's own allocator; run
    in a process of its own), today's code in fp32, today's default (bf16 networks); and of drawing
    FID samples."""
    import torch

    from autovae.distributions.likelihoods import Bernoulli, Likelihood
    from autovae.inference.bounds import BoundSpec, estimate_bounds
    from autovae.inference.sampling import generate

    def bernoulli_baseline(x, out):
        """The naive baseline's Bernoulli log-likelihood: -BCE summed per pixel (F.softplus inside)."""
        return Likelihood.log_prob(model.likelihood, x, out)

    dm = load_mnist(args.data_dir, 1000)
    x = dm.test_data.to(device)
    spec = BoundSpec(0.0, 5000)
    torch.manual_seed(0)
    if args.run_dir:  # a trained model: the values must agree to 0.1 nat where it matters
        from autovae.lightning.restore import load_model

        model = load_model(args.run_dir)[0].to(device)
        assert isinstance(model.likelihood, Bernoulli), "--run-dir: the NLL benchmark times a Bernoulli model"
    else:
        model = seed_model(device).eval()
    out = {"nll_model": args.run_dir or "untrained"}
    for name, bf16, images, chunk, baseline in [v for v in NLL_VARIANTS if v[0] in variants]:
        torch.manual_seed(0)  # the same importance samples for every variant
        if baseline:
            model.likelihood.log_prob = bernoulli_baseline
        t0 = time.perf_counter()
        values = []
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16), model.densities_in_fp32():
            for batch in x.split(images):
                values.append(estimate_bounds(model, batch, [spec], chunk or max(1, 1000 // len(batch)))[spec.key])
        _sync(device)
        out[f"nll_k5000_s_per_1000_images_{name}"] = time.perf_counter() - t0
        out[f"nll_{name}"] = -torch.cat(values).mean().item()
        if baseline:
            del model.likelihood.log_prob
    if args.fid_samples and "default" in variants:
        t0 = time.perf_counter()
        generate(model, args.fid_samples)
        _sync(device)
        out["generate_fid_samples_s"] = time.perf_counter() - t0
    return out


def inception_speed(args, device) -> dict:
    """Inception-v3 features per second on MNIST-sized images: torch-fidelity's own extractor, autovae's
    exact fast equivalent and its bf16 form, with each one's largest
    feature difference from torch-fidelity's (relative to the largest feature)."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from autovae.evaluation.inception import EXACT, FastInceptionV3, FastInceptionV3BF16

    weights = os.environ.get("AUTOVAE_INCEPTION_WEIGHTS", str(ROOT.parent / "shared" / "weights"
                                                                 / "inception-v3-compat-fid-only.pth"))
    images = (torch.rand(args.inception_images, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255)
    images = images.to(torch.uint8).to(device)
    variants = {"torch-fidelity": lambda: FeatureExtractorInceptionV3(EXACT, ["2048"], weights),
                "fast": lambda: FastInceptionV3("fast", ["2048"], weights),
                "fast bf16": lambda: FastInceptionV3BF16("fast-bf16", ["2048"], weights)}
    out, reference = {}, None
    for name, make in variants.items():
        net = make().to(device)
        with torch.no_grad():
            t0 = time.perf_counter()
            net(images[:8])  # warm-up (and compilation)
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            features = torch.cat([net(batch)[0] for batch in images.split(32)])
            _sync(device)
            out[f"inception_images_per_s_{name}"] = len(images) / (time.perf_counter() - t0)
        out[f"inception_first_call_s_{name}"] = warm
        reference = features if reference is None else reference
        out[f"inception_max_rel_diff_{name}"] = ((features - reference).abs().max() / reference.abs().max()).item()
    return out


def inception_report(r: dict, fid_samples: int) -> str:
    base = r["inception_images_per_s_torch-fidelity"]
    rows = [f"\nInception-v3 features of 28x28 images ({r['torch_threads']} threads):",
            "| extractor | images/s | ratio | max rel. feature diff | FID from %d samples | first call s |" % fid_samples,
            "|---|---|---|---|---|---|"]
    for key in [k for k in r if k.startswith("inception_images_per_s_")]:
        name = key.removeprefix("inception_images_per_s_")
        rows.append(f"| {name} | {r[key]:.2f} | {r[key] / base:.2f}x | {r[f'inception_max_rel_diff_{name}']:.1e} | "
                    f"{fid_samples / r[key] / 60:.1f} min | {r[f'inception_first_call_s_{name}']:.1f} |")
    return "\n".join(rows)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


CONTENDERS = {"handwritten fp32": handwritten, "handwritten bf16": lambda a, d: handwritten(a, d, bf16=True),
              "autovae fp32": autovae, "autovae bf16": lambda a, d: autovae(a, d, precision="bf16-mixed"),
              "autovae+compile bf16": lambda a, d: autovae(a, d, compile_model=True, precision="bf16-mixed"),
              "pythae": pythae, "nll baseline": lambda a, d: evaluation(a, d, ("baseline",)),
              "evaluation": evaluation, "table_b_run": lambda a, d: table_b_run(a, d),
              "step breakdown": step_breakdown, "inception": inception_speed}
PARALLEL = "autovae bf16, 2 jobs x 1 thread"
TRAINING = ("handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16", "autovae+compile bf16", PARALLEL)
BASELINE = {"autovae fp32": "handwritten fp32", "autovae bf16": "handwritten bf16",
            "autovae+compile bf16": "handwritten bf16", "pythae": "handwritten fp32", PARALLEL: "autovae bf16",
            "handwritten bf16": "handwritten fp32"}


def table_b_run(args, device) -> dict:
    """One table (b) run's parts other than training epochs: a validation pass over the 10,000
    held-out images, and the final test (L_{1,1} and L_{0,50} on 10,000 images, NLL K=5000 on 1000)."""
    from hydra import compose, initialize_config_dir

    from autovae.app.resolvers import register
    from autovae.app.train import build

    register()
    overrides = ["experiment=table_b", "column=N_N", "callbacks=default", "~callbacks", "logger=csv",
                 "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.enable_progress_bar=false",
                 "trainer.enable_checkpointing=false", f"paths.data_dir={args.data_dir}",
                 f"paths.output_dir={args.out}/table_b_run", "evaluation.nll_samples=5000",
                 "evaluation.nll_images=1000"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    model, datamodule, trainer = build(cfg)
    datamodule.setup()
    t0 = time.perf_counter()
    trainer.validate(model, datamodule=datamodule, verbose=False)
    val_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.test(model, datamodule=datamodule, verbose=False)
    return {"validation_s": val_s, "test_s": time.perf_counter() - t0, "precision": str(trainer.precision)}


def worker(args) -> None:
    import torch

    from autovae.lightning import host_allocator

    host_allocator.configure(args.host_allocator)  # every contender, the hand-written loop included

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
                          else "cpu")
    torch.manual_seed(0)
    result = CONTENDERS[args.worker](args, device)
    result.update(peak_memory(device), device=str(device), torch_threads=torch.get_num_threads(),
                  host_allocator=host_allocator.configure(args.host_allocator))
    print("BENCH " + json.dumps(result))


def start_contender(name: str, args, threads: int | None = None) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", name, "--epochs", str(args.epochs), "--subset", str(args.subset),
           "--device", args.device, "--data-dir", args.data_dir, "--out", args.out, "--fid-samples", str(args.fid_samples),
           "--host-allocator", args.host_allocator, "--breakdown-steps", str(args.breakdown_steps)]
    cmd += ["--run-dir", args.run_dir] if args.run_dir else []
    cmd += ["--inception-images", str(args.inception_images)]
    if name == "nll baseline":  # the baseline keeps glibc's own allocator, too
        cmd[cmd.index("--host-allocator") + 1] = "system"
    env = dict(os.environ, PYTHONUNBUFFERED="1", **({"OMP_NUM_THREADS": str(threads)} if threads else {}))
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
        secs, base = _epoch_s(rounds, name), BASELINE.get(name, "")
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--skip", nargs="*", default=[], choices=[*CONTENDERS, PARALLEL], metavar="CONTENDER")
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--out", default=str(ROOT / "outputs" / "bench"))
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--table-epochs", type=int, default=100, help="epochs per run in the table (b) estimate")
    p.add_argument("--inception", action="store_true",
                   help="also time Inception-v3 features: torch-fidelity's, autovae's exact fast path, its bf16 form")
    p.add_argument("--inception-images", type=int, default=64, help="images timed by --inception")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return 0
    names = ["handwritten fp32", "handwritten bf16", "autovae fp32", "autovae bf16", PARALLEL]
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
            if name in TRAINING or round_ == 0:
                rounds[name].append(run_contender(name, args))
    examples = next((r["examples"] for runs in rounds.values() for r in runs if "examples" in r), args.subset)
    print(f"Seed MNIST model, {examples} training images (after the validation split), {args.epochs} epochs, "
          f"batch {BATCH}:")
    print(report(rounds, args.table_epochs, args.fid_samples or 10000))
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=2))
    return 1 if any("error" in r for runs in rounds.values() for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
