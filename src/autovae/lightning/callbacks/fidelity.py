"""IS, FID and KID of generated samples against the test set, through torch-fidelity."""
from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import Dataset

from autovae.evaluation.inception import extractor_for
from autovae.inference.sampling import generate, to_uint8_rgb
from autovae.lightning.progress import ProgressTask, track

log = logging.getLogger(__name__)


class UInt8Images(Dataset):
    """A tensor of uint8 RGB images as the Dataset torch-fidelity reads; ``progress`` advances by one
    the first time torch-fidelity reads each image (its loader runs in this process: ``save_cpu_ram``;
    it also reads image 0 once on its own to check the input)."""

    def __init__(self, images: torch.Tensor, progress: ProgressTask | None = None):
        self.images, self.progress, self._read = images, progress, set()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.progress is not None and i not in self._read:
            self._read.add(i)
            self.progress.advance(1)
        return self.images[i]


def fidelity_metrics(generated: torch.Tensor, reference: torch.Tensor, *, isc: bool = True, fid: bool = True,
                     kid: bool = True, feature_extractor: str = "inception-v3-compat",
                     feature_extractor_weights_path: str | None = None, cuda: bool | None = None,
                     batch_size: int = 64, kid_subset_size: int = 1000, reference_cache: str | None = None,
                     cache_root: str | None = None, cpu_fast_path: bool = True,
                     bf16: bool = False, trainer: Any = None) -> dict[str, float]:
    """torch-fidelity's metrics of uint8 RGB tensors; the reference's features are cached by name.

    On a CPU, ``inception-v3-compat`` is computed by its fast equivalent (autovae.evaluation.inception)
    unless ``cpu_fast_path`` is false; ``bf16`` selects that extractor's inexact bf16 form. Feature
    extraction shows its progress beside ``trainer``'s bar (or in the log); a cached reference shows none."""
    import torch_fidelity

    n = min(len(generated), len(reference))
    cuda = torch.cuda.is_available() if cuda is None else cuda
    extractor = extractor_for(feature_extractor, cuda=cuda, cpu_fast_path=cpu_fast_path, bf16=bf16)
    generated_task = track(f"{extractor} features of generated samples", len(generated), trainer, unit="images")
    reference_task = track(f"{extractor} features of reference images", len(reference), trainer, unit="images")
    kwargs = dict(input1=UInt8Images(generated, generated_task), input2=UInt8Images(reference, reference_task),
                  isc=isc, fid=fid, kid=kid,
                  cuda=cuda, batch_size=batch_size,
                  feature_extractor=extractor, kid_subset_size=min(kid_subset_size, n), verbose=False,
                  feature_extractor_weights_path=feature_extractor_weights_path, samples_find_deep=False,
                  save_cpu_ram=True)  # no DataLoader worker processes: they fail inside joblib workers and warn elsewhere
    if reference_cache:
        kwargs.update(input2_cache_name=reference_cache, cache=True, cache_root=cache_root)
    else:
        kwargs.update(cache=False)
    with generated_task, reference_task:
        raw = torch_fidelity.calculate_metrics(**kwargs)
    names = {"inception_score_mean": "is", "inception_score_std": "is_std", "frechet_inception_distance": "fid",
             "kernel_inception_distance_mean": "kid", "kernel_inception_distance_std": "kid_std"}
    return {short: float(raw[long]) for long, short in names.items() if long in raw}


def classifier_head_is_finite(weights_path: str | Path | None) -> bool:
    """Whether an Inception state dict's classifier head (``fc.*``, which only the Inception Score uses)
    is finite. Weights made for FID alone ship a NaN head: IS from them is NaN, FID and KID are exact."""
    if not weights_path:
        return True  # torch-fidelity's own download has its real head
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    return all(bool(torch.isfinite(v).all()) for k, v in state.items() if k.startswith("fc."))


def split_of(pl_module) -> str:
    return getattr(pl_module, "eval_split", "test")


class FidelityMetrics(Callback):
    """Logs IS/FID/KID of ``num_samples`` prior samples against the test set after testing.

    Under DDP each rank draws its share of samples; rank 0 gathers them and computes the metrics.
    """

    def __init__(self, num_samples: int = 10000, isc: bool = True, fid: bool = True, kid: bool = True,
                 feature_extractor: str = "inception-v3-compat", feature_extractor_weights_path: str | None = None,
                 batch_size: int = 64, kid_subset_size: int = 1000, cache_root: str | None = None,
                 prefix: str = "test/", cpu_fast_path: bool = True, bf16: bool = False):
        self.num_samples, self.isc, self.fid, self.kid = num_samples, isc, fid, kid
        self.cpu_fast_path, self.bf16 = cpu_fast_path, bf16
        self.feature_extractor, self.weights = feature_extractor, feature_extractor_weights_path
        self.batch_size, self.kid_subset_size, self.cache_root, self.prefix = batch_size, kid_subset_size, cache_root, prefix
        if self.isc and not classifier_head_is_finite(self.weights):
            log.warning("Inception Score skipped: the classifier head of %s is not finite (weights made for FID); "
                        "FID and KID are computed", self.weights)
            self.isc = False

    def describe(self, cuda: bool) -> dict:
        """What computes this run's IS/FID/KID, for its record."""
        return {"feature_extractor": extractor_for(self.feature_extractor, cuda=cuda, cpu_fast_path=self.cpu_fast_path,
                                                   bf16=self.bf16),
                "weights": Path(self.weights).name if self.weights else "torch-fidelity's download",
                "samples": self.num_samples, "isc": self.isc, "fid": self.fid, "kid": self.kid}

    def _reference_cache_name(self, datamodule, n: int, split: str = "test", extractor: str | None = None) -> str:
        weights = Path(self.weights).name if self.weights else "default"
        key = f"{datamodule.fingerprint}-{datamodule.binarize}-{n}-{extractor or self.feature_extractor}-{weights}"
        if split != "test":  # validation images depend on the seed's split
            key += f"-{split}-{datamodule.seed}-{datamodule.val_size}"
        return "autovae-" + hashlib.sha1(key.encode()).hexdigest()[:16]

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        datamodule = trainer.datamodule
        world = trainer.world_size
        share = math.ceil(self.num_samples / world)
        samples = generate(pl_module.net, share).to(pl_module.device)
        if world > 1:
            samples = trainer.strategy.all_gather(samples).flatten(0, 1)
        samples = samples[: self.num_samples].cpu()
        metrics = {}
        if trainer.is_global_zero:
            split = split_of(pl_module)
            images = datamodule.val_data if split == "val" else datamodule.test_data
            reference = to_uint8_rgb(images[: self.num_samples]).cpu()
            cuda = pl_module.device.type == "cuda"
            extractor = extractor_for(self.feature_extractor, cuda=cuda, cpu_fast_path=self.cpu_fast_path, bf16=self.bf16)
            metrics = fidelity_metrics(
                samples, reference, isc=self.isc, fid=self.fid, kid=self.kid, feature_extractor=self.feature_extractor,
                feature_extractor_weights_path=self.weights, cuda=cuda, cpu_fast_path=self.cpu_fast_path,
                bf16=self.bf16, batch_size=self.batch_size, kid_subset_size=self.kid_subset_size,
                cache_root=self.cache_root, reference_cache=self._reference_cache_name(
                    datamodule, len(reference), split, extractor), trainer=trainer)
        metrics = trainer.strategy.broadcast(metrics)
        prefix = self.prefix if split_of(pl_module) == "test" else f"{split_of(pl_module)}/"
        for name, value in metrics.items():
            pl_module.log(f"{prefix}{name}", value, rank_zero_only=True)
        pl_module.log(f"{prefix}fidelity_samples", float(len(samples)), rank_zero_only=True)
        log.info("fidelity metrics on %d samples: %s", len(samples), metrics)
