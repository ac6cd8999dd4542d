"""The training contenders: a hand-written PyTorch loop (the practical limit), autovae through
train.py's own build, and pythae, each on the seed's model and data for ``--epochs`` epochs."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from benchmarks.common import BENCH_SITE, sync
from benchmarks.seed import compose_seed, seed, seed_data


def handwritten(args, device, bf16: bool = False, batch: int | None = None) -> dict:
    """The practical limit: tensors on the device, slices by index, one fused loss. With bf16 the
    networks run under autocast and the loss is computed in fp32, as autovae does. ``batch`` replaces
    the seed's batch size (the converged setup's 100, where per-step overhead weighs most)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    s = seed()
    dm = seed_data(args.data_dir, args.subset)
    x_all = dm.train_data.flatten(1).to(device)
    layers = lambda sizes: nn.Sequential(*[m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.ReLU())][:-1])  # noqa: E731
    enc = layers([s.pixels, *s.hidden, 2 * s.latent]).to(device)
    dec = layers([s.latent, *reversed(s.hidden), s.pixels]).to(device)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=s.lr, fused=True)  # as autovae (conf/model/vae.yaml)
    times = []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(len(x_all), device=device).split(batch or s.batch):
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
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"epoch_times": times, "final_loss": loss.item(), "examples": len(x_all)}


def autovae(args, device, compile_model: bool = False, precision: str = "32-true", batch: int | None = None) -> dict:
    import torch
    from lightning.pytorch.callbacks import Callback

    from autovae.app.train import build

    class EpochTimer(Callback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_train_epoch_start(self, trainer, pl_module):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            sync(device)
            self.times.append(time.perf_counter() - self.t0)

    overrides = ["logger=csv", "~callbacks", f"trainer.max_epochs={args.epochs}", "trainer.limit_val_batches=0",
                 "trainer.enable_progress_bar=false", "trainer.enable_checkpointing=false", "evaluation.test=false",
                 f"trainer.accelerator={'gpu' if device.type == 'cuda' else 'cpu'}", f"dataset.train_subset={args.subset}",
                 f"paths.data_dir={args.data_dir}", f"paths.output_dir={args.out}/autovae",
                 "trainer.log_every_n_steps=50", f"compile={compile_model}", f"trainer.precision={precision}",
                 *([f"dataset.batch_size={batch}"] if batch else [])]
    cfg = compose_seed(*overrides)
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
            self.net = mlp([s.pixels, *s.hidden, 2 * s.latent])

        def forward(self, x):
            mu, log_var = self.net(x.flatten(1)).chunk(2, -1)
            return ModelOutput(embedding=mu, log_covariance=log_var)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = mlp([s.latent, *reversed(s.hidden), s.pixels])

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.net(z)).view(-1, *s.image_shape))

    class EpochTimer(TrainingCallback):
        def __init__(self):
            self.times, self.t0 = [], 0.0

        def on_epoch_begin(self, training_config, **kwargs):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, training_config, **kwargs):
            sync(device)
            self.times.append(time.perf_counter() - self.t0)

    s = seed()
    dm = seed_data(args.data_dir, args.subset)
    data = dm.train_data.cpu()
    cfg = VAEConfig(input_dim=s.image_shape, latent_dim=s.latent, reconstruction_loss="bce")
    model = VAE(cfg, encoder=Encoder(), decoder=Decoder())
    tcfg = BaseTrainerConfig(output_dir=str(Path(args.out) / "pythae"), num_epochs=args.epochs, learning_rate=s.lr,
                             per_device_train_batch_size=s.batch, no_cuda=device.type != "cuda",
                             steps_saving=None, steps_predict=None)
    timer = EpochTimer()
    from pythae.data.datasets import BaseDataset

    dataset = BaseDataset(data, torch.zeros(len(data)))  # pythae's own per-sample Dataset
    trainer = BaseTrainer(model, train_dataset=dataset, training_config=tcfg, callbacks=[timer])
    trainer.train()
    return {"epoch_times": timer.times, "final_loss": float("nan"), "examples": len(data)}
