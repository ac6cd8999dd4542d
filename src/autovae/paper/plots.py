"""Matplotlib figures of the seed: the bound against the Rényi order, and the KL landscape."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.distributions import kl_divergence  # noqa: E402

from autovae.distributions.families import get_family  # noqa: E402
from autovae.inference.bounds import BoundSpec, estimate_bound  # noqa: E402


@torch.no_grad()
def bound_vs_alpha(model, x: torch.Tensor, alphas: Sequence[float], samples: int = 50) -> list[float]:
    return [estimate_bound(model, x, BoundSpec(a, samples)).mean().item() for a in alphas]


def curve_label(cfg, pairing_label: str, taken) -> str:
    """A legend entry per run: its pairing and, when not the ELBO, the objective that trained it; runs
    that still share a name get their seed, then a number, so that no run's curve replaces another's."""
    div = cfg.get("divergence") or {}
    name = str(div.get("_target_", "")).rsplit(".", 1)[-1]
    label = pairing_label
    if name and name != "ELBO":
        label += f", {name} α={div.get('alpha')} K={div.get('samples')}"
    if label in taken:
        label += f", seed {cfg.get('seed', 0)}"
    base, n = label, 2
    while label in taken:
        label, n = f"{base} ({n})", n + 1
    return label


def plot_bound_vs_alpha(alphas: Sequence[float], curves: dict[str, Sequence[float]], path: str | Path,
                        samples: int = 50) -> Path:
    """The seed's "ELBO vs Renyi order-alpha" figure: one curve per model."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for label, values in curves.items():
        ax.plot(alphas, values, marker="o", label=label)
    ax.set_xlabel(r"Rényi order $\alpha$")
    ax.set_ylabel(rf"$\hat{{L}}_{{\alpha,{samples}}}$ (nats)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def kl_landscape(posterior: str, prior: str, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """KL(Q(mu, sigma) || P(0, 1)) on the grid mu x sigma (closed forms from the registry)."""
    m, s = torch.meshgrid(mu.double(), sigma.double(), indexing="ij")
    q = get_family(posterior).build(m, s)
    p = get_family(prior).build(torch.zeros_like(m), torch.ones_like(s))
    return kl_divergence(q, p)


def plot_kl_landscapes(pairs: Sequence[tuple[str, str]], path: str | Path) -> Path:
    """The seed's 2D landscapes of KL over (mu, sigma) for matched pairs, with the argmin over sigma."""
    mu, sigma = torch.linspace(-3, 3, 121), torch.logspace(-1.5, 0.7, 121)
    fig, axes = plt.subplots(1, len(pairs), figsize=(4 * len(pairs), 3.4))
    for ax, (q, p) in zip(axes if len(pairs) > 1 else [axes], pairs):
        kl = kl_landscape(q, p, mu, sigma)
        mesh = ax.pcolormesh(sigma, mu, kl.log1p(), shading="auto", cmap="viridis")
        ax.plot(sigma[kl.argmin(1)], mu, "w--", lw=1, label=r"argmin$_\sigma$")
        ax.set_xscale("log")
        ax.set_xlabel(r"$\sigma$")
        ax.set_ylabel(r"$\mu$")
        ax.set_title(f"{get_family(q).symbol}||{get_family(p).symbol}: log(1+KL)")
        fig.colorbar(mesh, ax=ax)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
