"""Posterior and prior families, the logistic distribution, and closed-form KLs (registered on import)."""
from autovae.distributions import kl as _kl  # noqa: F401  (registers the closed forms)
from autovae.distributions.families import FAMILIES, Family, get_family, register_family
from autovae.distributions.logistic import Logistic
from autovae.errors import UnknownOptionError
from autovae.distributions.product import BlockProduct

__all__ = ["FAMILIES", "BlockProduct", "Family", "Logistic", "UnknownOptionError", "get_family", "register_family"]
