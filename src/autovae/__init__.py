"""autovae: variational autoencoders whose posterior, prior, divergence and likelihood are configuration."""
from autovae import _moved, distributions  # noqa: F401  (distributions registers the KL closed forms)

_moved.install()

__version__ = "0.1.0"


def __getattr__(name):  # autovae.load_run without importing the evaluation stack at package import
    if name in ("load_run", "TrainedRun"):
        from autovae import api

        return getattr(api, name)
    raise AttributeError(f"module 'autovae' has no attribute {name!r}")
