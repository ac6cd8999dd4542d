"""Figures of the HEBAE paper and the planar-flow report, drawn from finished sweep runs."""
from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from autovae.results import COMPLETED, as_float, read_metrics  # noqa: E402


def finished_runs(root: str | Path) -> list[tuple[Path, dict]]:
    runs = []
    for path in sorted(Path(root).rglob("metrics.json")):
        payload = read_metrics(path.parent)
        if payload and payload.get("status") == COMPLETED:
            runs.append((path.parent, payload))
    return runs


def ran(payload: dict) -> dict:
    """What a run trained: its ``ran`` record, or for older runs the same facts from its config."""
    if payload.get("ran"):
        return payload["ran"]
    model = payload["config"]["model"]
    net = model["net"]
    div = model.get("divergence") or payload["config"].get("divergence") or {}
    return {"model": net["_target_"].rsplit(".", 1)[-1], "latent_dim": net["latent_dim"],
            "objective": {"beta": float(div.get("beta", 1.0))},
            **({"lam": float(net["lam"])} if "lam" in net else {}),
            **({"flows": int(net["flows"])} if "flows" in net else {})}


def epoch_curve(run_dir: Path, key: str = "val/elbo") -> tuple[list[int], list[float]]:
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    points = [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key)]
    return [p[0] + 1 for p in points], [p[1] for p in points]


def hebae_fig1(root: str | Path, out: str | Path) -> Path:
    """Top: ELBO against epochs per latent size k; bottom: final ELBO against lambda."""
    runs = finished_runs(root)
    by_k, by_lambda = defaultdict(list), defaultdict(list)
    for run_dir, p in runs:
        facts = ran(p)
        lam = facts.get("lam", facts["objective"].get("beta", 1.0))  # HEBAE's lambda, else the KL weight
        by_k[facts["latent_dim"]].append((facts["model"], run_dir))
        by_lambda[facts["model"]].append((float(lam), as_float(p["metrics"].get("val/elbo"))))
    ks = sorted(by_k)
    fig, axes = plt.subplots(2, max(len(ks), 1), figsize=(3.2 * max(len(ks), 1), 5.5), squeeze=False)
    for ax, k in zip(axes[0], ks):
        for name, run_dir in by_k[k]:
            ax.plot(*epoch_curve(run_dir), label=name)
        ax.set_title(f"k = {k}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation ELBO")
        ax.legend(fontsize=7)
    ax = axes[1][0]
    for name, points in by_lambda.items():
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel(r"KL weight $\lambda$")
    ax.set_ylabel("final ELBO")
    ax.legend(fontsize=7)
    for extra in axes[1][1:]:
        extra.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


@torch.no_grad()
def latent_mean_matrices(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    means = model.posterior(x).mean
    cov = torch.cov(means.T)
    std = cov.diagonal().sqrt()
    return cov.abs(), (cov / (std[:, None] * std[None, :])).abs()


def hebae_fig2(run_dirs: list[Path], x: torch.Tensor, out: str | Path) -> Path:
    """Absolute covariance and correlation matrices of the latent means, one column per model."""
    from autovae.evaluation.restore import load_model

    fig, axes = plt.subplots(2, len(run_dirs), figsize=(3.2 * len(run_dirs), 6), squeeze=False)
    for col, run_dir in enumerate(run_dirs):
        model, cfg = load_model(run_dir)
        cov, corr = latent_mean_matrices(model, x)
        for row, (mat, title) in enumerate(((cov, "|covariance|"), (corr, "|correlation|"))):
            im = axes[row][col].imshow(mat.numpy(), cmap="viridis", vmin=0)
            axes[row][col].set_title(f"{type(model).__name__}: {title}", fontsize=8)
            fig.colorbar(im, ax=axes[row][col], fraction=0.046)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)


def flow_comparison(root: str | Path, out: str | Path) -> Path:
    """Test bounds (ELBO, IWAE, NLL estimate) against the number of planar flows K."""
    points = defaultdict(list)
    for _, p in finished_runs(root):
        flows = ran(p).get("flows", 0)
        for key in ("test/bound_a1_k1", "test/bound_a0_k50", "test/nll"):
            if key in p["metrics"]:  # the NLL is positive nats: plot -NLL, a log-likelihood like the bounds
                sign = -1.0 if key == "test/nll" else 1.0
                points[key].append((flows, sign * as_float(p["metrics"][key])))
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, pts in points.items():
        pts.sort()
        label = "-nll (L_{0,K})" if key == "test/nll" else key.split("/")[1]
        ax.plot([str(f) for f, _ in pts], [v for _, v in pts], marker="o", label=label)
    ax.set_xlabel("planar flows K (0 = vanilla VAE)")
    ax.set_ylabel("test bound (nats)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
