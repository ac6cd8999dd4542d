"""Evaluation's cost: the K=5000 importance-sampled NLL (a naive baseline, today's code in fp32, the
default bf16 path), drawing FID samples, and one table (b) run's parts other than training epochs."""
from __future__ import annotations

import time

from benchmarks.common import sync
from benchmarks.seed import compose_seed, seed, seed_data, seed_model


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

    dm = seed_data(args.data_dir, 1000)
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
        sync(device)
        out[f"nll_k5000_s_per_1000_images_{name}"] = time.perf_counter() - t0
        out[f"nll_{name}"] = -torch.cat(values).mean().item()
        if baseline:
            del model.likelihood.log_prob
    if "default" in variants:
        out.update(nll_products(device))
        out.update(nll_density(device, compiled=args.compile))
    if args.fid_samples and "default" in variants:
        t0 = time.perf_counter()
        generate(model, args.fid_samples)
        sync(device)
        out["generate_fid_samples_s"] = time.perf_counter() - t0
    return out


def nll_gemm_shapes(rows: int) -> list[tuple[str, int, int, int]]:
    """(kind, rows, in, out) of the matrix products of one NLL pass: the decoder's layers, forward only."""
    s = seed()
    sizes = [s.latent, *reversed(s.hidden), s.pixels]
    return [("forward", rows, a, b) for a, b in zip(sizes, sizes[1:])]


def nll_products(device, rows: int = 1000, passes: int = 5000) -> dict:
    """The default NLL's matrix products timed alone at its shapes, in bf16: each pass decodes ``rows``
    samples (1000 images x 1 sample, evaluation.rows_per_pass) through the decoder's layers, and K=5000
    over 1000 images takes ``passes`` of them (the encoder runs once per image: left out)."""
    import torch

    from benchmarks.step import gemm_flops, time_gemms

    shapes = nll_gemm_shapes(rows)
    per_pass = time_gemms(shapes, torch.bfloat16, device, 200)
    return {"nll_gemm_s_per_1000_images": per_pass * passes,
            "nll_gemm_gflops": gemm_flops(shapes) / per_pass / 1e9}


def nll_density(device, compiled: bool = False, rows: int = 1000, passes: int = 5000, steps: int = 200) -> dict:
    """The default NLL's Bernoulli density timed alone on one pass's bf16 logits (``rows`` x 784, cast
    to float32 as ``network`` does, then x.l - softplus(l) summed per image), scaled to the K=5000 NLL's
    ``passes``; with ``compiled``, the same function through torch.compile (the cast, the product, the
    softplus and the sum in one kernel), its compilation time, and its largest difference in nats."""
    import torch

    from autovae.distributions.likelihoods import Bernoulli
    from autovae.inference.log_weights import full_precision

    s = seed()
    generator = torch.Generator().manual_seed(0)
    logits = (4 * torch.randn(rows, *s.image_shape, generator=generator)).to(device, torch.bfloat16)
    x = torch.rand(rows, *s.image_shape, generator=generator).to(device)
    likelihood = Bernoulli()

    def density(logits, x):
        return likelihood.log_prob(x, full_precision(logits))

    def per_pass(fn) -> float:
        fn(logits, x)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(steps):
            fn(logits, x)
        sync(device)
        return (time.perf_counter() - t0) / steps

    out = {"nll_density_s_per_1000_images": per_pass(density) * passes}
    if compiled:
        fused = torch.compile(density, dynamic=False)
        t0 = time.perf_counter()
        value = fused(logits, x)
        sync(device)
        out["nll_density_compile_s"] = time.perf_counter() - t0
        out["nll_density_compiled_max_diff_nats"] = (value - density(logits, x)).abs().max().item()
        out["nll_density_compiled_s_per_1000_images"] = per_pass(fused) * passes
    return out


def table_b_run(args, device) -> dict:
    """One table (b) run's parts other than training epochs: a validation pass over the 10,000
    held-out images, and the final test (L_{1,1} and L_{0,50} on 10,000 images, NLL K=5000 on 1000)."""
    from autovae.app.train import build

    overrides = ["experiment=table_b", "column=N_N", "callbacks=default", "~callbacks", "logger=csv",
                 "trainer.max_epochs=1", "trainer.limit_train_batches=1", "trainer.enable_progress_bar=false",
                 "trainer.enable_checkpointing=false", f"paths.data_dir={args.data_dir}",
                 f"paths.output_dir={args.out}/table_b_run", "evaluation.nll_samples=5000",
                 "evaluation.nll_images=1000"]
    cfg = compose_seed(*overrides)  # table (b) is the seed's experiment with its likelihood and columns
    model, datamodule, trainer = build(cfg)
    datamodule.setup()
    t0 = time.perf_counter()
    trainer.validate(model, datamodule=datamodule, verbose=False)
    val_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.test(model, datamodule=datamodule, verbose=False)
    return {"validation_s": val_s, "test_s": time.perf_counter() - t0, "precision": str(trainer.precision)}


def nll_density_report(ev: dict, products_s: float, total_s: float) -> str:
    """The Bernoulli density's share of the default NLL, and (with --compile) what one fused kernel for it
    would leave: the NLL less the eager density plus the compiled one, an estimate, not a timed NLL."""
    eager = ev["nll_density_s_per_1000_images"]
    line = (f"Its Bernoulli density alone (the bf16 -> fp32 cast, x.l - softplus(l), the sums; 1000 rows a pass): "
            f"{eager:.1f} s, {eager / products_s:.2f}x the products")
    if "nll_density_compiled_s_per_1000_images" in ev:
        fused = ev["nll_density_compiled_s_per_1000_images"]
        line += (f"; compiled into one kernel {fused:.1f} s ({eager / fused:.2f}x faster, "
                 f"{ev['nll_density_compile_s']:.1f} s to compile, values within "
                 f"{ev['nll_density_compiled_max_diff_nats']:.1e} nats), so the NLL with it would take about "
                 f"{total_s - eager + fused:.1f} s, {(total_s - eager + fused) / products_s:.2f}x its products (estimated)")
    return line
