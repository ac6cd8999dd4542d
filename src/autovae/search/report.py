"""What a study found: the best pairing as fractions, importances, history, and the Pareto front."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from autovae.distributions.families import get_family  # noqa: E402
from autovae.runs.atomic import write_text_atomic  # noqa: E402


def _pair_label(c: dict) -> str:
    return f"{get_family(c['posterior']).symbol}‖{get_family(c['prior']).symbol}"


def best_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    try:
        return study.best_trials
    except ValueError:
        return []


def pairing_table(trial: optuna.trial.FrozenTrial) -> str:
    comps = trial.user_attrs.get("pairing") or []
    rows = [f"| {_pair_label(c)} | {c['fraction']:.0%} |" for c in comps]
    return "| pair | latent dimensions |\n|---|---|\n" + "\n".join(rows) if rows else "(pairing fixed by the command line)"


def best_fixed_pairing(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best completed trial whose pairing has a single pair type (the hand-tuning baseline)."""
    fixed = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if len(t.user_attrs.get("pairing", [])) == 1]
    if not fixed or len(study.directions) > 1:
        return None
    better = max if study.direction == optuna.study.StudyDirection.MAXIMIZE else min
    return better(fixed, key=lambda t: t.value)


# Parameters that name a slot of the pairing (a latent index, a mixture component), not a belief: the
# slots are interchangeable, so importances are of each pair type's fraction instead.
SLOT_PARAMS = ("pair_", "weight_")


def by_pair_type(study: optuna.Study) -> optuna.Study:
    """The study's completed trials re-expressed with one parameter per pair type, its fraction of the
    latent dimensions ("fraction logistic||normal"), beside the other searched parameters."""
    trials = [t for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.user_attrs.get("pairing")]
    pairs = sorted({f"{c['posterior']}||{c['prior']}" for t in trials for c in t.user_attrs["pairing"]})
    derived = optuna.create_study(direction=study.direction)
    for t in trials:
        fractions = {p: 0.0 for p in pairs}
        for c in t.user_attrs["pairing"]:
            fractions[f"{c['posterior']}||{c['prior']}"] += float(c["fraction"])
        params = {f"fraction {p}": v for p, v in fractions.items()}
        dists = {k: optuna.distributions.FloatDistribution(0.0, 1.0) for k in params}
        for k, v in t.params.items():
            if not k.startswith(SLOT_PARAMS):
                params[k], dists[k] = v, t.distributions[k]
        derived.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=t.value))
    return derived


def importances(study: optuna.Study) -> dict[str, dict[str, float]]:
    out = {}
    if len(study.directions) > 1 or len(study.get_trials(states=(TrialState.COMPLETE,))) < 2:
        return out
    searched = by_pair_type(study) if any(t.user_attrs.get("pairing") for t in study.trials) else study
    for name, evaluator in (("fANOVA", optuna.importance.FanovaImportanceEvaluator(seed=0)),
                            ("default", None)):
        try:
            out[name] = optuna.importance.get_param_importances(searched, evaluator=evaluator)
        except (ValueError, RuntimeError) as err:  # e.g. a single distinct value per parameter
            out[name] = {"(not computable)": float("nan"), str(err)[:60]: float("nan")}
    return out


def summary(study: optuna.Study) -> str:
    states = {s.name: len(study.get_trials(states=(s,))) for s in TrialState}
    lines = [f"# Study {study.study_name}", "", "Trials: " + ", ".join(f"{k.lower()} {v}" for k, v in states.items() if v)]
    best = best_trials(study)
    if best:
        names = study.metric_names or ["objective"]
        for t in best[:5]:
            values = ", ".join(f"{n} {v:.3f}" for n, v in zip(names, t.values))
            lines += ["", f"## Best trial {t.number}: {values}", "", pairing_table(t), "",
                      "Re-run by hand: `python train.py " + " ".join(f"'{o}'" for o in t.user_attrs.get("overrides", [])) + "`"]
    baseline = best_fixed_pairing(study)
    if baseline and best:
        lines += ["", f"Best single-pair trial {baseline.number} ({pairing_table(baseline).splitlines()[-1]}): "
                      f"{baseline.value:.3f} against the best trial's {best[0].values[0]:.3f}"]
    for name, values in importances(study).items():
        lines += ["", f"## Parameter importances ({name})", "", "| parameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in list(values.items())[:20] if not math.isnan(v)]
    return "\n".join(lines) + "\n"


SEARCHED_COLUMN = "searched"  # column=searched, with the report folder on hydra.searchpath


def column_config(study: optuna.Study) -> str | None:
    """The best trial's pairing as a column config (the layout of conf/column/*.yaml), so that the
    searched "Auto" column runs in the same sweep as the fixed columns; None without a best pairing.

    Only the pairing goes in: a table fixes the divergence and likelihood for all of its columns.
    """
    best = best_trials(study)
    comps = best[0].user_attrs.get("pairing") if best else None
    if not comps:
        return None
    trial = best[0]
    values = ", ".join(f"{v:.3f}" for v in trial.values)
    body = OmegaConf.to_yaml({"defaults": [{"override /pairing": "mixture"}], "column": "Auto",
                              "pairing": {"components": [dict(c) for c in comps]}})
    return (f"# @package _global_\n# Column \"Auto\": the pairing of study {study.study_name}'s best trial "
            f"{trial.number} ({values}),\n# written by scripts/search_report.py. The trial's own overrides were:\n"
            f"#   {' '.join(trial.user_attrs.get('overrides', []))}\n{body}")


def write_report(study: optuna.Study, folder: str | Path) -> list[Path]:
    """report.md, the plots, and column/searched.yaml (see ``column_config``) into ``folder``."""
    from optuna.visualization import matplotlib as ovm

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / "report.md", summary(study))
    paths = [folder / "report.md"]
    column = column_config(study)
    if column is not None:
        write_text_atomic(folder / "column" / f"{SEARCHED_COLUMN}.yaml", column)
        paths.append(folder / "column" / f"{SEARCHED_COLUMN}.yaml")
    plots = {"history": lambda: ovm.plot_optimization_history(study, target_name="objective")
             if len(study.directions) == 1 else ovm.plot_pareto_front(study)}
    if importances(study):
        plots["importances"] = lambda: ovm.plot_param_importances(
            by_pair_type(study) if any(t.user_attrs.get("pairing") for t in study.trials) else study)
    for name, draw in plots.items():
        ax = draw()
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(7, 4.5)
        fig.tight_layout()
        fig.savefig(folder / f"{name}.png", dpi=110)
        plt.close(fig)
        paths.append(folder / f"{name}.png")
    return paths
