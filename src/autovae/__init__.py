"""autovae: variational autoencoders whose posterior, prior, divergence and likelihood are configuration."""
from autovae import distributions  # noqa: F401  (registers the KL closed forms)

__version__ = "0.1.0"
