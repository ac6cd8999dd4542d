"""Figures of the HEBAE paper and the planar-flow report, drawn from finished sweep runs."""
from __future__ import annotations

import csv
import math
import os
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from autovae.inference import metric_names as m  # noqa: E402
from autovae.runs.record import COMPLETED, as_float, read_metrics  # noqa: E402
from autovae.runs.scan import run_folders  # noqa: E402


def finished_runs(root: str | Path) -> list[tuple[Path, dict]]:
    runs = []
    for run_dir in run_folders(root):
        payload = read_metrics(run_dir)
        if payload and payload.get("status") == COMPLETED:
            runs.append((run_dir, payload))
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


def bound_key(run_dir: Path) -> str:
    """The per-epoch bound a run logged: val/elbo_refit where the posterior's scale is refitted (HEBAE:
    no bound trains its scale, so its own val/elbo is set by the scale's floor), else val/elbo."""
    header = (run_dir / "csv" / "metrics.csv").open().readline().strip().split(",")
    return m.val(m.ELBO_REFIT) if m.val(m.ELBO_REFIT) in header else m.val(m.ELBO)


def run_label(facts: dict, payload: dict, with_seed: bool) -> str:
    """A legend entry that tells runs apart: the model, HEBAE's variant, whether the scale is refitted."""
    name = facts["model"]
    if facts.get("variant", "paper") != "paper":
        name += f" ({facts['variant']})"
    if facts.get("posterior_scale_refit"):
        name += ", scale refitted"
    if with_seed:
        name += f", seed {payload['config'].get('seed', 0)}"
    return name


def final_bound(payload: dict) -> float:
    """The test ELBO (with the refitted scale where there is one), else the last validation ELBO."""
    metrics = payload.get("metrics") or {}
    return as_float(metrics.get(m.test(m.ELBO), metrics.get(m.val(m.ELBO))))


def lambda_curves(runs: list[tuple[Path, dict]]) -> dict[str, list[tuple[float, float]]]:
    """The final test ELBO against lambda, one curve per run label and latent size k, of the labels that
    ran at two or more lambdas: runs that differ in k at one lambda (Fig. 1a top's) are not a curve."""
    points, ks = defaultdict(list), set()
    for (_, p), label in zip(runs, run_labels(runs)):
        facts = ran(p)
        points[(label, facts["latent_dim"])].append((lambda_of(facts), final_bound(p)))
        ks.add(facts["latent_dim"])
    return {(label if len(ks) == 1 else f"{label}, k = {k}"): sorted(curve)
            for (label, k), curve in sorted(points.items()) if len({lam for lam, _ in curve}) > 1}


def run_labels(runs: list[tuple[Path, dict]]) -> list[str]:
    """Each run's legend label, naming its seed where its model (and variant) ran with several."""
    facts = [ran(p) for _, p in runs]
    seeds = defaultdict(set)
    for f, (_, p) in zip(facts, runs):
        seeds[(f["model"], f.get("variant"))].add(p["config"].get("seed", 0))
    return [run_label(f, p, len(seeds[(f["model"], f.get("variant"))]) > 1) for f, (_, p) in zip(facts, runs)]


def lambda_of(facts: dict) -> float:
    return float(facts.get("lam", facts["objective"].get("beta", 1.0)))  # HEBAE's lambda, else the KL weight


def hebae_fig1(root: str | Path, out: str | Path) -> Path:
    """Top: the bound against epochs per latent size k (at lambda = 1); bottom: the final test ELBO against
    lambda, one line per model (and seed, and k where several). The plotted numbers beside it in
    <out>.json: per k and run, the validation bound's first and last epochs and the final test ELBO."""
    from autovae.runs.atomic import write_json_atomic

    runs = finished_runs(root)
    by_k = defaultdict(list)
    for (run_dir, p), label in zip(runs, run_labels(runs)):
        if lambda_of(ran(p)) == 1.0:
            by_k[ran(p)["latent_dim"]].append((label, run_dir, p))
    ks = sorted(by_k)
    cols = max(len(ks), 1)
    curves = lambda_curves(runs)  # no second row where no model ran at two lambdas
    fig, axes = plt.subplots(2 if curves else 1, cols, figsize=(3.2 * cols, 5.5 if curves else 2.9), squeeze=False)
    numbers: dict = {"bound_against_epochs": {}, "final_test_elbo_against_lambda": curves}
    for ax, k in zip(axes[0], ks):
        for label, run_dir, payload in sorted(by_k[k], key=lambda run: run[0]):
            epochs, values = epoch_curve(run_dir, bound_key(run_dir))
            ax.plot(epochs, values, label=label)
            numbers["bound_against_epochs"].setdefault(f"k = {k}", {})[label] = {
                "bound": bound_key(run_dir), "epochs": len(values), "first": values[0] if values else None,
                "last": values[-1] if values else None, "final_test_elbo": final_bound(payload)}
        ax.set_title(f"k = {k}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation ELBO")
        ax.legend(fontsize=6)
    if curves:
        ax = axes[1][0]
        for label, points in curves.items():
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_xlabel(r"KL weight $\lambda$")
        ax.set_ylabel("final test ELBO")
        ax.legend(fontsize=6)
        for extra in axes[1][1:]:
            extra.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    write_json_atomic(Path(out).with_suffix(".json"), numbers)
    return Path(out)


def latent_record(run_dir: Path, payload: dict, images: torch.Tensor | None) -> dict:
    """A run's ``latent_statistics``: from its metrics.json where the run computed them
    (``evaluation.latent_statistics``), else computed now from its checkpoint on ``images``."""
    if payload.get("latent_statistics"):
        return payload["latent_statistics"]
    from autovae.errors import NoWeightsError
    from autovae.evaluation.latent import LatentStatistics, latent_statistics
    from autovae.lightning.restore import load_model

    if images is None:
        raise NoWeightsError(f"{run_dir} has no latent_statistics in its metrics.json and no test images were given")
    model, cfg = load_model(run_dir)
    spec = LatentStatistics(**{**(cfg.get("evaluation", {}).get("latent_statistics") or {}), "images": len(images)})
    return latent_statistics(model, images, spec, seed=int(cfg.get("seed", 0)))


def hebae_fig2(runs: list[tuple[Path, dict]], out: str | Path, images: torch.Tensor | None = None) -> Path:
    """One column per run: the absolute covariance and correlation matrices of the latent means, and
    the index-code MIC and TIC per latent dimension; the numbers beside it in <out>.json, keyed by each
    run's folder relative to that file's, so that the file names the runs wherever they are moved."""
    from autovae.runs.atomic import write_json_atomic

    fig, axes = plt.subplots(3, len(runs), figsize=(3.2 * len(runs), 8.5), squeeze=False)
    numbers = {}
    for col, (run_dir, payload) in enumerate(runs):
        stats = latent_record(Path(run_dir), payload, images)
        model, seed = ran(payload)["model"], int(payload["config"].get("seed", 0))
        mi = stats.get("index_code") or {}
        numbers[os.path.relpath(Path(run_dir).resolve(), Path(out).resolve().parent)] = {
            "model": model, "seed": seed,
            **{k: stats[k] for k in ("cov_minus_identity_fro", "mean_abs_offdiagonal_correlation", "collapsed_dimensions")},
            **({"mean_mic": mi["mean_mic"], "mean_tic": mi["mean_tic"]} if mi else {}),
            **({"mean_mic_refitted_scale": stats["index_code_refitted_scale"]["mean_mic"],
                "mean_tic_refitted_scale": stats["index_code_refitted_scale"]["mean_tic"]}
               if "index_code_refitted_scale" in stats else {})}
        cov, corr = torch.tensor(stats["covariance"]).abs(), torch.tensor(stats["correlation"]).abs()
        for row, (mat, title) in enumerate(((cov, "|covariance|"), (corr, "|correlation|"))):
            im = axes[row][col].imshow(mat.numpy(), cmap="viridis", vmin=0)
            axes[row][col].set_title(f"{model}, seed {seed}: {title}", fontsize=8)
            fig.colorbar(im, ax=axes[row][col], fraction=0.046)
        ax = axes[2][col]
        if mi:
            dims = range(len(mi["mic"]))
            ax.bar([d - 0.2 for d in dims], mi["mic"], width=0.4, label=f"MIC (mean {mi['mean_mic']:.2f})")
            ax.bar([d + 0.2 for d in dims], mi["tic"], width=0.4, label=f"TIC (mean {mi['mean_tic']:.2f})")
            ax.set_ylim(0, 1)
            ax.set_xlabel("latent dimension j")
            ax.set_title(f"{model}: index-code MIC/TIC", fontsize=8)
            ax.legend(fontsize=6)
        else:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    write_json_atomic(Path(out).with_suffix(".json"), numbers)
    return Path(out)


FLOW_BOUNDS = ((m.test(m.L11), "L_{1,1}"), (m.test(m.L0_50), "L_{0,50}"), (m.test(m.NLL), "-NLL (L_{0,5000})"))


def flow_points(root: str | Path) -> list[dict]:
    """One row per finished run: K, global or amortized flow parameters, seed, the test bounds (the NLL as
    a log-likelihood, -test/nll, like the bounds) and the run's wall time per epoch."""
    rows, root = [], Path(root)
    for run_dir, p in finished_runs(root):
        facts, metrics = ran(p), p.get("metrics") or {}
        row = {"run": str(run_dir.relative_to(root)), "flows": int(facts.get("flows", 0)),
               "amortized": bool(facts.get("amortized", False)), "seed": int(p["config"].get("seed", 0)),
               "git_commit": (p.get("code") or {}).get("git_commit"),
               # the run's wall time (training, validation and the final K=5000 NLL) over its epochs
               "wall_s_per_epoch_with_evaluation": (p.get("duration_s") or math.nan) / max(1, int(p.get("epochs") or 1))}
        for key, _ in FLOW_BOUNDS:
            if key in metrics:
                row[key] = (-1.0 if key == m.test(m.NLL) else 1.0) * as_float(metrics[key])
        rows.append(row)
    return sorted(rows, key=lambda r: (r["amortized"], r["flows"], r["seed"]))


def flow_comparison(root: str | Path, out: str | Path) -> Path:
    """Test bounds (ELBO, IWAE, NLL estimate) against the number of planar flows K, global and amortized
    flow parameters as separate lines (the mean over seeds); the rows beside it in <out>.json."""
    from autovae.runs.atomic import write_json_atomic

    rows = flow_points(root)
    ks = sorted({r["flows"] for r in rows})
    fig, axes = plt.subplots(1, len(FLOW_BOUNDS), figsize=(4.2 * len(FLOW_BOUNDS), 3.5), squeeze=False)
    for ax, (key, label) in zip(axes[0], FLOW_BOUNDS):
        for amortized, style in ((False, "o-"), (True, "s--")):
            by_k = defaultdict(list)
            for r in rows:
                if r["amortized"] == amortized and key in r and (r["flows"] > 0 or not amortized):
                    by_k[r["flows"]].append(r[key])
            if amortized and 0 in {r["flows"] for r in rows}:  # K = 0 has no flow parameters: both lines start there
                by_k[0] = [r[key] for r in rows if r["flows"] == 0 and key in r]
            pts = sorted((ks.index(k), sum(v) / len(v)) for k, v in by_k.items() if v)
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label="amortized" if amortized else "global")
        ax.set_xticks(range(len(ks)), [str(k) for k in ks])
        ax.set_xlabel("planar flows K (0 = the plain VAE)")
        ax.set_title(label, fontsize=9)
        ax.set_ylabel("test bound (nats)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    write_json_atomic(Path(out).with_suffix(".json"), rows)
    return Path(out)
