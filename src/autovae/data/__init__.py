"""Datasets (torchvision, read once into tensors) and the LightningDataModule over them."""
from __future__ import annotations


def datamodule_from(cfg):
    """The LightningDataModule of a composed config (its image_shape, read by the model too, is checked
    against the images it loads)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    return instantiate(OmegaConf.to_container(cfg.dataset, resolve=True))
