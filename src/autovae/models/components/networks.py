"""Encoder/decoder architectures. Each is a factory called with the data's shape at build time.

Configs name them with ``_partial_: true``; the model supplies ``image_shape``, ``latent_dim``
(the encoder emits ``encoder_outputs`` numbers in all) and ``params_per_pixel``.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Sequence

import torch
from torch import nn

from autovae.errors import UnknownOptionError


def _mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class FlattenLeading(nn.Module):
    """Runs a network on (..., *in_shape) by folding the leading dimensions into one batch."""

    def __init__(self, net: nn.Module, in_ndim: int, out_shape: Sequence[int]):
        super().__init__()
        self.net, self.in_ndim, self.out_shape = net, in_ndim, tuple(out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[: x.dim() - self.in_ndim]
        y = self.net(x.reshape(-1, *x.shape[x.dim() - self.in_ndim:]))
        return y.reshape(*lead, *self.out_shape)


INITS = {"default": None,  # PyTorch's (Kaiming-uniform with a=sqrt(5), a uniform bias)
         "xavier": nn.init.xavier_uniform_, "kaiming": partial(nn.init.kaiming_uniform_, nonlinearity="relu")}


def initialize(net: nn.Module, init: str) -> nn.Module:
    """Re-initializes every Linear/Conv weight (biases to zero) unless init is "default"."""
    if init not in INITS:
        raise UnknownOptionError(f"unknown model.net.architecture.init={init!r}; valid: {', '.join(INITS)}")
    fn = INITS[init]
    if fn is not None:
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                fn(m.weight)
                nn.init.zeros_(m.bias)
    return net


def mlp(image_shape: Sequence[int], latent_dim: int, params_per_pixel: int = 1, encoder_outputs: int = 40,
        hidden: Sequence[int] = (400, 400, 400), init: str = "default") -> tuple[nn.Module, nn.Module]:
    """Fully connected encoder and decoder (the AutoVAE seed: 3 x 400, latent 20)."""
    c, h, w = image_shape
    pixels = c * h * w
    encoder = FlattenLeading(nn.Sequential(nn.Flatten(), _mlp([pixels, *hidden, encoder_outputs])),
                             3, (encoder_outputs,))
    decoder = FlattenLeading(_mlp([latent_dim, *reversed(hidden), params_per_pixel * pixels]),
                             1, (params_per_pixel * c, h, w))
    return initialize(encoder, init), initialize(decoder, init)


def _conv_block(cin: int, cout: int, transpose: bool = False) -> nn.Sequential:
    conv = (nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1) if transpose
            else nn.Conv2d(cin, cout, 5, stride=2, padding=2))
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU())


def conv(image_shape: Sequence[int], latent_dim: int, params_per_pixel: int = 1, encoder_outputs: int = 40,
         channels: Sequence[int] = (128, 256, 512, 1024)) -> tuple[nn.Module, nn.Module]:
    """HEBAE's CelebA pair: 5x5 stride-2 convolutions with batch norm (64x64 input, k=64).

    Also serves 32x32 CIFAR/SVHN with fewer channels (``conv_small``). The decoder mirrors the
    encoder with transposed convolutions, starting from a (channels[-1], H/2^n, W/2^n) map.
    """
    c, h, w = image_shape
    n = len(channels)
    if h % 2 ** n or w % 2 ** n:
        raise ValueError(f"conv architecture with {n} stride-2 layers needs H, W divisible by {2 ** n}, got {h}x{w}")
    fh, fw = h // 2 ** n, w // 2 ** n
    enc_layers = [_conv_block(a, b) for a, b in zip([c, *channels[:-1]], channels)]
    encoder = nn.Sequential(*enc_layers, nn.Flatten(), nn.Linear(channels[-1] * fh * fw, encoder_outputs))
    rev = list(reversed(channels))
    dec_layers = [_conv_block(a, b, transpose=True) for a, b in zip(rev[:-1], rev[1:])]
    decoder = nn.Sequential(
        nn.Linear(latent_dim, rev[0] * fh * fw), nn.Unflatten(1, (rev[0], fh, fw)), nn.ReLU(), *dec_layers,
        nn.ConvTranspose2d(rev[-1], params_per_pixel * c, 5, stride=2, padding=2, output_padding=1))
    return (FlattenLeading(encoder, 3, (encoder_outputs,)),
            FlattenLeading(decoder, 1, (params_per_pixel * c, h, w)))


def pixels(image_shape: Sequence[int]) -> int:
    return math.prod(image_shape)
