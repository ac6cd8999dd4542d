"""The AutoVAE search space: pairings per latent dimension (or as fractions), Rényi order, likelihood.

Every trial's choices become train.py overrides (``pairing=mixture pairing.components=[...]`` etc.),
stored on the trial, so any trial re-runs by hand with ``python train.py <overrides>``.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import optuna

from autovae.distributions.families import FAMILIES
from autovae.distributions.pairing import InfiniteKLError, PairSpec, max_posterior_scale


def valid_pairs() -> list[str]:
    """Every posterior||prior pair (by family name) whose KL is finite for some posterior scale."""
    pairs = []
    for q in sorted(FAMILIES):
        for p in sorted(n for n, f in FAMILIES.items() if f.prior_growth):
            try:
                max_posterior_scale(PairSpec(q, p))
            except InfiniteKLError:
                continue
            pairs.append(f"{q}||{p}")
    return pairs


def components_text(components: Sequence[dict]) -> str:
    """A components list in Hydra's override syntax."""
    items = [f"{{posterior: {c['posterior']}, prior: {c['prior']}, fraction: {c['fraction']!r}}}" for c in components]
    return "[" + ", ".join(items) + "]"


def counts_to_components(counts: Counter, latent_dim: int) -> list[dict]:
    comps = []
    for pair, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        q, p = pair.split("||")
        comps.append({"posterior": q, "prior": p, "fraction": n / latent_dim})
    return comps


@dataclass
class SearchSpace:
    latent_dim: int = 20
    encoding: str = "per_dim"  # per_dim | fractions
    pair_types: int = 3  # for encoding=fractions
    pairs: Sequence[str] | None = None  # default: every finite-KL pair
    alphas: Sequence[float] = (0.0, 0.5, 1.0)
    samples: Sequence[int] = (1, 5)
    likelihoods: Sequence[str] = ("bernoulli",)  # one belief: bounds of different likelihoods do not compare
    lr: Sequence[float] | None = None  # [low, high] on a log scale
    beta: Sequence[float] | None = None  # [low, high] KL weight, on a log scale
    fixed: set[str] = field(default_factory=set)  # parts fixed by command-line overrides

    def __post_init__(self):
        if self.encoding not in ("per_dim", "fractions"):
            raise ValueError(f"search.space.encoding must be per_dim or fractions, got {self.encoding!r}")
        self.pairs = list(self.pairs or valid_pairs())

    def suggest_pairing(self, trial: optuna.Trial) -> list[dict]:
        if self.encoding == "per_dim":
            counts = Counter(trial.suggest_categorical(f"pair_{d:02d}", self.pairs) for d in range(self.latent_dim))
            return counts_to_components(counts, self.latent_dim)
        types = [trial.suggest_categorical(f"pair_type_{i}", self.pairs) for i in range(self.pair_types)]
        weights = [trial.suggest_float(f"weight_{i}", 0.0, 1.0) for i in range(self.pair_types)]
        total = sum(weights) or 1.0
        from autovae.distributions.pairing import split_dimensions

        dims = split_dimensions([w / total for w in weights] if sum(weights) else [1 / len(weights)] * len(weights),
                                self.latent_dim)
        counts = Counter()
        for pair, n in zip(types, dims):
            counts[pair] += n
        return counts_to_components(+counts, self.latent_dim)

    def overrides(self, trial: optuna.Trial) -> list[str]:
        """The trial's choices as train.py overrides; parts the user fixed are not searched."""
        out: list[str] = []
        if "pairing" not in self.fixed:
            comps = self.suggest_pairing(trial)
            trial.set_user_attr("pairing", comps)
            out += ["pairing=mixture", f"pairing.components={components_text(comps)}"]
        if "divergence" not in self.fixed:
            alpha = float(trial.suggest_categorical("alpha", list(self.alphas)))
            k = int(trial.suggest_categorical("samples", list(self.samples)))
            if alpha == 1.0 and k == 1:
                out += ["divergence=kl"]
            else:
                out += ["divergence=renyi", f"divergence.alpha={alpha!r}", f"divergence.samples={k}"]
        if "likelihood" not in self.fixed:
            out.append(f"likelihood={trial.suggest_categorical('likelihood', list(self.likelihoods))}")
        if self.lr and "lr" not in self.fixed:
            out.append(f"model.optimizer.lr={trial.suggest_float('lr', *self.lr, log=True)!r}")
        if self.beta and "divergence" not in self.fixed and "divergence=kl" in out:
            out.append(f"divergence.beta={trial.suggest_float('beta', *self.beta, log=True)!r}")
        return out


def fixed_parts(task_overrides: Sequence[str]) -> set[str]:
    """Which parts of the space the command line fixes (e.g. ``likelihood=mse`` fixes the likelihood)."""
    keys = {o.lstrip("+~").split("=", 1)[0] for o in task_overrides}
    fixed = set()
    for key in keys:
        head = key.split(".", 1)[0]
        if head in ("posterior", "prior", "pairing", "column"):
            fixed.add("pairing")
        elif head == "divergence":
            fixed.add("divergence")
        elif head == "likelihood":
            fixed.add("likelihood")
        elif key == "model.optimizer.lr":
            fixed.add("lr")
    return fixed


def finite(value: float) -> bool:
    return value is not None and math.isfinite(value)
