"""Datasets (torchvision, read once into tensors) and the LightningDataModule over them."""
from __future__ import annotations


def datamodule_from(cfg):
    """The LightningDataModule of a composed config (its image_shape is read by the model, not passed on)."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(cfg.dataset, resolve=True)
    node.pop("image_shape", None)  # a fact of the dataset, read by the model's config
    return instantiate(node)
