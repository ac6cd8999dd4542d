"""torch-fidelity's Inception-v3 features computed faster on a CPU, as feature extractors it can use.

``inception-v3-compat-fast`` gives the same 2048-d features (and logits) as ``inception-v3-compat``
from the same weights, rearranged for a CPU: each batch norm folded into its convolution
(``torch.nn.utils.fusion.fuse_conv_bn_eval``), channels-last tensors (oneDNN's fast convolution layout),
and the TensorFlow-1.x bilinear resize to 299x299 applied as two matrix products whose matrices are
torch-fidelity's own resize applied to the identity, so the resize is the same linear map. Only the
rounding differs: the features agree to about 1e-5 of their largest value (tests/evaluation/test_inception.py).

``inception-v3-compat-fast-bf16`` runs the convolutions under bf16 autocast: faster where the CPU has
bf16 instructions, not exact, and kept under its own name so its features are never cached as exact ones.
"""
from __future__ import annotations

import functools

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch_fidelity.feature_extractor_inceptionv3 import BasicConv2d, FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

EXACT = "inception-v3-compat"
FAST = "inception-v3-compat-fast"
FAST_BF16 = "inception-v3-compat-fast-bf16"

# The network's stages in order, and the feature each stage's output gives (spatially averaged).
_STAGES = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "MaxPool_1", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
           "MaxPool_2", "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c")
_TAPS = {"MaxPool_1": "64", "MaxPool_2": "192", "Mixed_6e": "768", "Mixed_7c": "2048"}


@functools.lru_cache(maxsize=8)
def resize_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """The (size_out, size_in) matrix of torch-fidelity's TensorFlow-1.x bilinear resize along one axis.

    The resize is linear and separable, so resizing each one-hot row of the identity gives its matrix."""
    basis = torch.eye(size_in, dtype=torch.float64).reshape(size_in, 1, size_in, 1)
    columns = interpolate_bilinear_2d_like_tensorflow1x(basis, size=(size_out, 1), align_corners=False)
    return columns[:, 0, :, 0].T.to(torch.float32).contiguous()


def load_weights_safely(path: str) -> None:
    """Refuse a weights file that holds anything but tensors, before torch-fidelity unpickles it fully."""
    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # an unsafe pickle, a truncated file, or not a state dict at all
        raise ValueError(f"{path} is not a plain state dict of tensors; refusing to unpickle it: {error}") from error


class FastInceptionV3(FeatureExtractorInceptionV3):
    """``inception-v3-compat`` with batch norm folded, channels-last layout and the resize as matrices."""

    autocast_bf16 = False

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        if kwargs.get("feature_extractor_internal_dtype") not in (None, "float32"):
            raise ValueError(f"{name} computes in float32; use {EXACT} for feature_extractor_internal_dtype")
        if feature_extractor_weights_path is not None:
            load_weights_safely(feature_extractor_weights_path)
        super().__init__(name, features_list, feature_extractor_weights_path=feature_extractor_weights_path, **kwargs)
        for block in self.modules():
            if isinstance(block, BasicConv2d):
                block.conv, block.bn = fuse_conv_bn_eval(block.conv, block.bn), nn.Identity()
        self.to(memory_format=torch.channels_last)

    @staticmethod
    def can_be_compiled() -> bool:
        return False  # its forward is shaped for eager oneDNN kernels; docs/performance.md weighs compiling it

    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = set(self.features_list)
        found: dict[str, torch.Tensor] = {}
        for stage in _STAGES:
            x = getattr(self, stage)(x)
            tap = _TAPS.get(stage)
            if tap in wanted or (tap == "2048" and wanted & {"logits", "logits_unbiased"}):
                found[tap] = x.mean((2, 3), dtype=torch.float32)
                if wanted <= found.keys():
                    break
        return found

    def forward(self, x: torch.Tensor):
        if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.dim() == 4 and x.shape[1] == 3):
            raise ValueError(f"expected a uint8 tensor of shape Bx3xHxW, got {getattr(x, 'dtype', type(x))} "
                             f"{tuple(getattr(x, 'shape', ()))}")
        rows = resize_matrix(x.shape[2], self.INPUT_IMAGE_SIZE).to(x.device)
        cols = resize_matrix(x.shape[3], self.INPUT_IMAGE_SIZE).to(x.device)
        x = torch.einsum("ph,nchw,qw->ncpq", rows, x.to(torch.float32), cols)
        x = ((x - 128) / 128).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.autocast_bf16 and x.device.type == "cpu"):
            found = self._features(x)
        pooled = found.get("2048")
        if "logits_unbiased" in self.features_list or "logits" in self.features_list:
            unbiased = pooled.mm(self.fc.weight.T)
            found["logits_unbiased"], found["logits"] = unbiased, unbiased + self.fc.bias.unsqueeze(0)
        return tuple(found[name].to(torch.float32) for name in self.features_list)


class FastInceptionV3BF16(FastInceptionV3):
    """The fast extractor's convolutions under bf16 autocast: not exact (docs/performance.md measures it)."""

    autocast_bf16 = True


def register() -> None:
    """Make the fast extractors known to torch-fidelity (idempotent)."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    for name, cls in ((FAST, FastInceptionV3), (FAST_BF16, FastInceptionV3BF16)):
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)


def extractor_for(name: str, *, cuda: bool, cpu_fast_path: bool = True, bf16: bool = False) -> str:
    """The extractor torch-fidelity should use: on a CPU, the exact Inception's fast equivalent."""
    if name != EXACT or cuda or not cpu_fast_path:
        if bf16:
            raise ValueError("bf16 Inception features exist only for inception-v3-compat on a CPU "
                             f"(got feature_extractor={name}, cuda={cuda}, cpu_fast_path={cpu_fast_path})")
        return name
    register()
    return FAST_BF16 if bf16 else FAST
