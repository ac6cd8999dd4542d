"""Inception-v3 features per second for FID: torch-fidelity's extractor, autovae's exact fast path
and its bf16 form, each with its largest feature difference from torch-fidelity's."""
from __future__ import annotations

import time

from benchmarks.common import sync


def inception_speed(args, device) -> dict:
    """Inception-v3 features per second on MNIST-sized images: torch-fidelity's own extractor, autovae's
    exact fast equivalent and its bf16 form, with each one's largest
    feature difference from torch-fidelity's (relative to the largest feature)."""
    import torch
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    from autovae.evaluation.inception import EXACT, FastInceptionV3, FastInceptionV3BF16

    weights = args.inception_weights
    images = (torch.rand(args.inception_images, 3, 28, 28, generator=torch.Generator().manual_seed(0)) * 255)
    images = images.to(torch.uint8).to(device)
    variants = {"torch-fidelity": lambda: FeatureExtractorInceptionV3(EXACT, ["2048"], weights),
                "fast": lambda: FastInceptionV3("fast", ["2048"], weights),
                "fast bf16": lambda: FastInceptionV3BF16("fast-bf16", ["2048"], weights)}
    out, reference = {}, None
    out["inception_gflop_per_image"] = _gflop_per_image(FastInceptionV3("fast", ["2048"], weights).to(device), images[:1])
    out["fp32_matmul_gflop_per_s"] = _matmul_rate(device)
    for name, make in variants.items():
        net = make().to(device)
        with torch.no_grad():
            t0 = time.perf_counter()
            net(images[:8])  # warm-up (and compilation)
            warm = time.perf_counter() - t0
            t0 = time.perf_counter()
            features = torch.cat([net(batch)[0] for batch in images.split(32)])
            sync(device)
            out[f"inception_images_per_s_{name}"] = len(images) / (time.perf_counter() - t0)
        out[f"inception_first_call_s_{name}"] = warm
        reference = features if reference is None else reference
        out[f"inception_max_rel_diff_{name}"] = ((features - reference).abs().max() / reference.abs().max()).item()
    return out


def _gflop_per_image(net, image) -> float:
    """The floating-point operations (a multiply-add counts two) of one image's features, as torch counts them."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(image)
    return counter.get_total_flops() / 1e9


def _matmul_rate(device, size: int = 2048, repeats: int = 5) -> float:
    """The fp32 matrix product's best rate here, in GFLOP/s: the ceiling of any exact fp32 extractor."""
    import torch

    a, b = (torch.randn(size, size, device=device) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size ** 3 / best / 1e9


def inception_report(r: dict, fid_samples: int) -> str:
    base = r["inception_images_per_s_torch-fidelity"]
    gflop, peak = r["inception_gflop_per_image"], r["fp32_matmul_gflop_per_s"]
    ceiling = peak / gflop
    rows = [f"\nInception-v3 features of 28x28 images ({r['torch_threads']} threads; {gflop:.2f} GFLOP an image; "
            f"at this machine's fp32 matrix-product rate, {peak:.0f} GFLOP/s, an exact fp32 extractor can reach at most "
            f"{ceiling:.1f} images/s, {ceiling / base:.2f}x torch-fidelity's):",
            "| extractor | images/s | ratio | GFLOP/s (of the fp32 rate) | max rel. feature diff | FID from %d samples "
            "| first call s |" % fid_samples,
            "|---|---|---|---|---|---|---|"]
    for key in [k for k in r if k.startswith("inception_images_per_s_")]:
        name = key.removeprefix("inception_images_per_s_")
        rows.append(f"| {name} | {r[key]:.2f} | {r[key] / base:.2f}x | {r[key] * gflop:.0f} ({r[key] * gflop / peak:.0%}) | "
                    f"{r[f'inception_max_rel_diff_{name}']:.1e} | "
                    f"{fid_samples / r[key] / 60:.1f} min | {r[f'inception_first_call_s_{name}']:.1f} |")
    return "\n".join(rows)
