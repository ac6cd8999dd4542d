"""The names under which a run logs and records its metrics, ``<split>/<name>``: the LightningModule
logs them, and the run record, ``make table``, the figures, the search and the command line's
summary read them from here."""
from __future__ import annotations

from autovae.inference.bounds import BoundSpec

TEST, VAL = "test", "val"
LOSS, ELBO, KL, NLL = "loss", "elbo", "kl", "nll"
RECON_EXPECTED, RECON_AT_MEAN = "recon_expected", "recon_at_mean"  # -E_q log p(x|z), and at the posterior mean
RECON_BEFORE_EXPECTED = "recon"  # what records written before recon_expected hold
ELBO_REFIT = "elbo_refit"  # the ELBO with the posterior's scale refitted (models whose scale no bound trains)
TRAINED_SCALE = "trained_scale"  # the folder of the bounds at the trained scale, beside the refitted ones
FID, KID, FIDELITY_SAMPLES = "fid", "kid", "fidelity_samples"
L11 = BoundSpec(1.0, 1).key  # L_{1,1}: the one-sample Monte Carlo ELBO
L0_50 = BoundSpec(0.0, 50).key  # L_{0,50}: the IWAE bound of 50 samples


def test(name: str) -> str:
    return f"{TEST}/{name}"


def val(name: str) -> str:
    return f"{VAL}/{name}"
