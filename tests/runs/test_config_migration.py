"""Run folders written before the model/loop split, or before the package layout, read exactly like today's."""
import importlib.machinery
import importlib.util
import json
import shutil

from conftest import ROOT, compose
from omegaconf import OmegaConf

from autovae.paper.collect import collect_runs
from autovae.paper.render import cells
from autovae.runs.keys import MAY_CHANGE_ON_RESUME, canonical, flatten, without
from autovae.runs.migration import upgrade_config
from autovae.runs.record import read_metrics
from autovae.runs.upgrade import upgrade_folder

OLD_RUN = ROOT / "results" / "table_b" / "N_N" / "seed_0"  # committed, written in the old layout
OLD_OVERRIDES = ["experiment=table_b", "column=N_N", "seed=0", "evaluation.nll_samples=5000",
                 "evaluation.nll_images=1000"]


def model_node(config: dict) -> dict:
    """The model node as resume and tables compare it (a fused optimizer, added later, is not part of it)."""
    return canonical(without(flatten(config["model"], "model."), MAY_CHANGE_ON_RESUME))


def test_an_old_record_upgrades_to_the_config_composed_today():
    old = json.loads((OLD_RUN / "metrics.json").read_text())["config"]
    assert "net" not in old["model"], "the committed run is expected to predate the split"
    today = OmegaConf.to_container(compose(OLD_OVERRIDES).model, resolve=True)
    assert model_node(upgrade_config(old)) == model_node({"model": today})


def test_upgrading_is_idempotent_and_leaves_new_records_alone():
    old = json.loads((OLD_RUN / "metrics.json").read_text())["config"]
    once = upgrade_config(old)
    assert upgrade_config(once) is once
    assert read_metrics(OLD_RUN)["config"] == once


def test_the_folder_migration_rewrites_in_place_and_files_the_same_cells(tmp_path):
    shutil.copytree(OLD_RUN, tmp_path / "N_N" / "seed_0", ignore=shutil.ignore_patterns("checkpoints"))
    before = cells(collect_runs(tmp_path))
    assert len(upgrade_folder(tmp_path)) == 1
    raw = json.loads((tmp_path / "N_N" / "seed_0" / "metrics.json").read_text())
    assert raw["config"]["model"]["net"]["latent_dim"] == 20
    assert upgrade_folder(tmp_path) == []  # nothing left to rewrite
    after = cells(collect_runs(tmp_path))
    assert {k: c.mean for k, c in before.items()} == {k: c.mean for k, c in after.items()}
    assert any(c.mean is not None for c in after.values())


def targets(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "_target_" and isinstance(v, str)] + \
            [t for v in node.values() for t in targets(v)]
    if isinstance(node, list):
        return [t for v in node for t in targets(v)]
    return []


def test_every_committed_runs_targets_read_as_todays_modules():
    """Each committed record's ``_target_`` values, as read, name a module of today's layout (found
    without the old-path aliases), whichever layout wrote them."""
    records = sorted((ROOT / "results").rglob("metrics.json"))
    assert len(records) > 100
    stale = set()
    for path in records:
        payload = read_metrics(path.parent)
        for target in targets([payload.get("config"), payload.get("ran")]):
            spec = importlib.util.find_spec(target.rpartition(".")[0])
            if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
                stale.add(target)  # an old path, served only by autovae._moved
    assert not stale, sorted(stale)
