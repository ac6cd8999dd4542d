"""Drawing images: from the prior, and from the importance-weighted posterior q_EW."""
from __future__ import annotations

import torch


@torch.no_grad()
def importance_weighted_latents(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """The seed's Algorithm 1: draw k proposals z_i ~ q(z|x), resample one by w_i / sum w."""
    terms = model.log_weights(x, k)  # z: (k, B, D)
    j = torch.distributions.Categorical(logits=terms.log_weights.T).sample()  # (B,)
    return terms.z[j, torch.arange(x.shape[0], device=x.device)]


@torch.no_grad()
def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images (N, C, H, W) -> uint8 with 3 channels, as torch-fidelity expects."""
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


@torch.no_grad()
def generate(model, n: int, batch_size: int = 1000) -> torch.Tensor:
    """n decoded prior samples as uint8 RGB on the CPU."""
    parts, left = [], n
    while left > 0:
        m = min(batch_size, left)
        parts.append(to_uint8_rgb(model.sample(m)).cpu())
        left -= m
    return torch.cat(parts) if parts else torch.empty(0, 3, *model.image_shape[1:], dtype=torch.uint8)


__all__ = ["generate", "importance_weighted_latents", "to_uint8_rgb"]
