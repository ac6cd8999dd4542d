"""One training step by phase, fp32 against bf16, beside the same step's matrix products timed alone
at the same shapes: what bf16 can speed up at most, and what autovae adds outside the products."""
from __future__ import annotations

import statistics
import time

from benchmarks.common import sync
from benchmarks.seed import seed, seed_data, seed_model


def gemm_shapes(batch: int) -> list[tuple[str, int, int, int]]:
    """(kind, batch, in, out) of every matrix product in one training step of the seed's MLP: each layer's
    forward, its weight gradient, and its input gradient (all but the encoder's first layer, whose input
    needs none). Each costs 2 * batch * in * out FLOPs."""
    s = seed()
    encoder, decoder = [s.pixels, *s.hidden, 2 * s.latent], [s.latent, *reversed(s.hidden), s.pixels]
    shapes = []
    for sizes in (encoder, decoder):
        for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
            kinds = ("forward", "weight grad") + (("input grad",) if (sizes is decoder or i) else ())
            shapes += [(kind, batch, a, b) for kind in kinds]
    return shapes


def gemm_flops(shapes) -> int:
    return sum(2 * m * a * b for _, m, a, b in shapes)


def time_gemms(shapes, dtype, device, steps: int) -> float:
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
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        for run in products:
            run()
    sync(device)
    return (time.perf_counter() - t0) / steps


def step_breakdown(args, device) -> dict:
    """Where one training step's time goes, fp32 against bf16: autovae's own model, loss and fused Adam
    without Lightning, timed phase by phase over ``--breakdown-steps`` steps after a warm-up, beside the
    same step's matrix products timed alone at the same shapes (what bf16 can speed up at most)."""
    import torch

    from autovae.inference.objectives import analytic_kl

    s = seed()
    x_all = seed_data(args.data_dir, args.subset).train_data.to(device)
    shapes = gemm_shapes(s.batch)
    gflop = gemm_flops(shapes) / 1e9
    out = {"gemm_gflop_per_step": gflop}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        torch.manual_seed(0)
        net = seed_model(device)
        opt = torch.optim.Adam(net.parameters(), lr=s.lr, fused=True)
        phases: dict[str, list[float]] = {}
        order = torch.randperm(len(x_all), device=device)
        for step in range(args.breakdown_steps + 5):
            idx = order[(step * s.batch) % max(1, len(x_all) - s.batch):][:s.batch]
            clock = PhaseClock(device, phases if step >= 5 else {})
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
        gemm = 1000 * time_gemms(shapes, dtype, device, args.breakdown_steps)
        out[name] = {"phases_ms": ms, "step_ms": sum(ms.values()), "gemm_ms": gemm, "gemm_gflops": gflop / gemm * 1000}
    out["adam_subnormal"] = adam_with_subnormal_moments(device, args.breakdown_steps)
    return out


# The share of Adam's moments below 1.2e-38 in a HEBAE-setup run's checkpoint at epoch ~40 (892,029
# of 5,124,808; docs/performance.md): the state a short benchmark never trains long enough to reach.
SUBNORMAL_SHARE = 0.17


def adam_with_subnormal_moments(device, steps: int) -> dict:
    """ms per fused Adam step on the seed model's parameters when SUBNORMAL_SHARE of the gradients are
    so small that their squares and second moments are subnormal, with subnormals kept and flushed."""
    import torch

    from autovae.lightning import denormals

    out = {}
    for choice in ("keep", "flush"):
        denormals.configure(choice)
        gen = torch.Generator().manual_seed(0)
        params = [p.detach().to(device).requires_grad_() for p in seed_model(torch.device("cpu")).parameters()]
        grads = []
        for p in params:
            g = torch.randn(p.shape, generator=gen) * 1e-3
            g[torch.rand(p.shape, generator=gen) < SUBNORMAL_SHARE] *= 1e-17
            grads.append(g.to(device))
        opt = torch.optim.Adam(params, lr=1e-4, fused=True)
        for p, g in zip(params, grads):
            p.grad = g
        times = []
        for step in range(steps + 5):
            sync(device)
            t0 = time.perf_counter()
            opt.step()
            sync(device)
            times.append(time.perf_counter() - t0)
        out[f"{choice}_ms"] = 1000 * statistics.median(times[5:])
    denormals.configure("flush")
    return out


class PhaseClock:
    """Adds the time since the last call to ``phases[name]``, the device synchronized first."""

    def __init__(self, device, phases: dict[str, list[float]]):
        self.device, self.phases, self.t = device, phases, time.perf_counter()

    def __call__(self, name: str) -> None:
        sync(self.device)
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
            f"below {needed:.1f} ms in both" + (" (it cannot be: the matrix products alone gain less)." if needed <= 0 else ".")
            + (f" Fused Adam with {SUBNORMAL_SHARE:.0%} of its moments subnormal, as late in a run: "
               f"{b['adam_subnormal']['keep_ms']:.1f} ms keeping them, {b['adam_subnormal']['flush_ms']:.1f} ms "
               f"flushed to zero (denormals=flush, the default): "
               f"{b['adam_subnormal']['keep_ms'] / b['adam_subnormal']['flush_ms']:.2f}x." if "adam_subnormal" in b else ""))
