"""Which runs `make table` files into which cell, and what it averages: no training needed."""
import csv
import io
import json
import math
from types import SimpleNamespace

import pytest
from conftest import ROOT, compose, markdown_row
from hydra.utils import instantiate
from omegaconf import OmegaConf

from autovae.app.train import ran_block
from autovae.data import datamodule_from
from autovae.paper.collect import collect_runs
from autovae.paper.render import cells, clashes, markdown
from autovae.runs.atomic import write_json_atomic


def fake_run(root, name, overrides, bound=-100.0, status="completed", old=False, metrics=None, epochs=100, **fields):
    """A finished run folder as train.py writes it (the paper's 100 epochs unless overridden), with made-up metrics."""
    cfg = compose([f"trainer.max_epochs={epochs}", *overrides, f"paths.output_dir={root / name}", "trainer.accelerator=cpu",
                   "logger=csv"])
    model = instantiate(cfg.model)
    payload = {"status": status, "epochs": epochs, **fields, "config": OmegaConf.to_container(cfg, resolve=True),
               "metrics": {"test/bound_a1_k1": bound, "test/bound_a0_k50": bound + 5,
                           "test/recon_expected": -bound - 20, "test/kl": 20.0, **(metrics or {})},
               "ran": ran_block(model, datamodule_from(cfg), SimpleNamespace(precision="bf16-mixed"), cfg)}
    if old:  # as written before the `ran` block, the validation split and recon_expected
        del payload["ran"], payload["config"]["dataset"]["val_size"], payload["metrics"]["test/recon_expected"]
        payload["metrics"]["test/recon"] = -bound - 21
    write_json_atomic(root / name / "metrics.json", payload)


def test_only_runs_of_the_table_definition_are_filed(tmp_path):
    fake_run(tmp_path, "vae", ["column=N_N"])
    for model in ("hebae", "flow", "wae", "beta_vae"):
        fake_run(tmp_path, model, [f"model={model}"])
    fake_run(tmp_path, "latent10", ["column=N_N", "model.net.latent_dim=10"])
    fake_run(tmp_path, "fashion", ["column=N_N", "dataset=fashion_mnist"])
    fake_run(tmp_path, "mse_var1", ["column=N_N", "likelihood=mse", "likelihood.variance=1.0"])
    fake_run(tmp_path, "iwae_k5", ["column=N_N", "divergence=iwae", "divergence.samples=5"])
    fake_run(tmp_path, "iwae_k50", ["column=N_N", "divergence=iwae"])
    fake_run(tmp_path, "mse", ["column=N_N", "likelihood=mse"], bound=-600.0)
    col = collect_runs(tmp_path)
    filed = sorted((r.table, r.column, r.source.rsplit("/", 1)[-1]) for r in col.records)
    assert filed == [("a", "N||N", "mse"), ("a", "N||N", "mse_var1"), ("b", "N||N", "vae"), ("g", "N||N", "iwae_k50")]
    unfiled = "\n".join(col.problems)
    for name in ("hebae", "flow", "wae", "beta_vae", "latent10", "fashion", "iwae_k5"):
        assert f"/{name}: not part of any seed table" in unfiled
    # table (a)'s variance is unspecified: any fixed variance files, its bound put in the paper's units
    # (the constant dropped: + 784/2 log(2 pi variance)), and two variances in one cell clash
    bounds = {r.source.rsplit("/", 1)[-1]: r.values["bound"] for r in col.records if r.table == "a"}
    assert math.isclose(bounds["mse"], -600.0 + 392 * math.log(math.pi), rel_tol=1e-9)
    assert math.isclose(bounds["mse_var1"], -100.0 + 392 * math.log(2 * math.pi), rel_tol=1e-9)
    assert any("likelihood.variance: 0.5 / 1.0" in c for c in clashes(col))


def test_only_seeds_of_one_configuration_are_averaged(tmp_path):
    fake_run(tmp_path, "s0", ["column=N_N", "seed=0"], bound=-100.0)
    fake_run(tmp_path, "s1", ["column=N_N", "seed=1"], bound=-102.0)
    fake_run(tmp_path, "s2", ["column=N_N", "seed=2"], bound=math.nan, status="failed")
    fake_run(tmp_path, "la", ["column=La_N", "seed=0", "model.optimizer.lr=1e-3"], bound=-110.0)
    fake_run(tmp_path, "la_other_lr", ["column=La_N", "seed=0", "model.optimizer.lr=3e-3"], bound=-120.0)
    col = collect_runs(tmp_path)
    table = cells(col)
    nn = table[("b", "bound", "N||N")]
    assert (nn.mean, nn.runs, nn.failed) == (-101.0, 3, 1)
    assert nn.ours.endswith("[1 of 3 failed]")
    la = table[("b", "bound", "La||N")]
    assert la.clash == 2 and la.ours == "clash: 2 configs" and la.diff is None
    assert any("model.optimizer.lr: 0.001 / 0.003" in c for c in clashes(col))
    assert "clash: 2 configs" in markdown(col)


def test_runs_from_before_the_fixes_are_read_and_marked(tmp_path):
    fake_run(tmp_path, "old", ["column=N_N"], bound=-100.0, old=True)
    col = collect_runs(tmp_path)
    assert [r.values["recon"] for r in col.records] == [79.0]
    notes = "\n".join(col.notes)
    for fix in ("predates the `ran` record", "predates the validation split", "predates test/recon_expected"):
        assert fix in notes
    assert "Runs read from older records" in markdown(col)


def test_both_reconstructions_stand_against_the_papers_one_row(tmp_path):
    """The paper prints one BCE without saying at which z: ours at one sample (E_q) and at the posterior
    mean are both shown beside it; a record that predates the second is unmeasured, not failed."""
    fake_run(tmp_path / "new", "s0", ["column=N_N", "seed=0"], bound=-100.0, metrics={"test/recon_at_mean": 76.0})
    fake_run(tmp_path / "new", "s1", ["column=N_N", "seed=1"], bound=-102.0, metrics={"test/recon_at_mean": 78.0})
    table = cells(collect_runs(tmp_path / "new"))
    at_mean, expected = table[("b", "recon_at_mean", "N||N")], table[("b", "recon", "N||N")]
    assert (at_mean.mean, at_mean.paper, at_mean.failed) == (77.0, 77.15, 0)
    assert (expected.mean, expected.paper) == (81.0, 77.15)
    rendered = markdown(collect_runs(tmp_path / "new"))
    assert markdown_row(rendered, "(b) BCE (at the posterior mean)", "N‖N") == ["N‖N", "77.00 ± 1.41", "77.15", "-0.15", "2"]
    fake_run(tmp_path / "old", "s0", ["column=N_N"], bound=-100.0)
    old = cells(collect_runs(tmp_path / "old"))[("b", "recon_at_mean", "N||N")]
    assert (old.runs, old.failed, old.ours) == (0, 0, "")


def test_beta_vae_records_the_beta_that_trained(tmp_path):
    for name, extra in (("default", []), ("two", ["divergence.beta=2"])):
        fake_run(tmp_path, name, ["model=beta_vae", *extra])
    betas = {p.parent.name: json.loads(p.read_text())["ran"]["objective"]["beta"] for p in tmp_path.rglob("metrics.json")}
    assert betas == {"default": 4.0, "two": 2.0}


def test_claims_are_judged_from_the_column_means(tmp_path):
    from autovae.paper.claims import judge, rank_agreement

    for column, bound in (("N_N", -100.0), ("Lo_N", -99.0), ("E_N", -150.0), ("E_La", -140.0), ("C_C", -105.0)):
        fake_run(tmp_path, column, [f"column={column}"], bound=bound)
    verdicts = {claim: verdict for claim, verdict, _ in judge(collect_runs(tmp_path))}
    assert verdicts["Mismatched Lo‖N is at least as good as N‖N (bound)"] == "held (one seed: noise unknown)"
    assert verdicts["E‖N, E‖La and C‖C are far worse than N‖N (more than 10 nats)"] == "not held"  # C||C: 5
    assert verdicts["Auto is the best column (bound)"] == "not measured yet"
    bound_rank = dict((m, (n, rho)) for m, n, rho in rank_agreement(collect_runs(tmp_path)))["bound"]
    assert bound_rank[0] == 5 and abs(bound_rank[1] - 0.6) < 1e-9  # ranks 5,4,1,2,3 against 4,5,2,3,1


def test_a_difference_inside_the_seed_noise_is_neither_held_nor_not_held(tmp_path):
    """Lo||N 0.5 nats above N||N with seeds 2 nats apart is noise; 6 nats above is held, 6 below not."""
    from autovae.paper.claims import judge

    claim = "Mismatched Lo‖N is at least as good as N‖N (bound)"
    for name, lo_mean in (("noise", -99.5), ("above", -94.0), ("below", -106.0)):
        for seed, offset in ((0, -1.0), (1, 1.0)):  # N||N -100 ± 1.41, Lo||N lo_mean ± 1.41
            fake_run(tmp_path / name, f"nn{seed}", ["column=N_N", f"seed={seed}"], bound=-100.0 + offset)
            fake_run(tmp_path / name, f"lo{seed}", ["column=Lo_N", f"seed={seed}"], bound=lo_mean + offset)
        verdicts = {c: (v, f) for c, v, f in judge(collect_runs(tmp_path / name))}
        expected = {"noise": "within seed noise", "above": "held", "below": "not held"}[name]
        assert verdicts[claim][0] == expected, verdicts[claim]
        assert "2 SE 2.83" in verdicts[claim][1]  # 2 * sqrt(2 * 1.41^2 / 2)


def test_a_folder_pools_the_settings_it_declares_and_the_table_names_them(tmp_path):
    """Seeds of one column run on machines with and without bf16 clash unless their folder's pooled.yaml
    declares the precision pooled; then they are averaged, and the table says so and why."""
    def two_seeds(root):
        fake_run(root, "s0", ["column=N_N", "seed=0", "trainer.precision=bf16-mixed"], bound=-100.0)
        fake_run(root, "s1", ["column=N_N", "seed=1", "trainer.precision=32-true"], bound=-102.0)
        fake_run(root, "lo", ["column=Lo_N", "seed=0", "trainer.precision=32-true"], bound=-99.0)

    two_seeds(tmp_path / "plain")
    assert cells(collect_runs(tmp_path / "plain"))[("b", "bound", "N||N")].clash == 2

    two_seeds(tmp_path / "pooled")
    (tmp_path / "pooled" / "pooled.yaml").write_text("keys: [trainer.precision]\nwhy: seeds ran on two CPUs\n")
    col = collect_runs(tmp_path / "pooled")
    cell = cells(col)[("b", "bound", "N||N")]
    assert (cell.clash, cell.mean) == (1, -101.0)
    text = markdown(col)
    assert "why: seeds ran on two CPUs" in text
    assert "(b) N||N: 2 seeds differ in trainer.precision: '32-true' / 'bf16-mixed'; averaged" in text
    assert "(b) Lo||N" not in text.split("Seeds pooled")[1]  # one seed: nothing pooled

    (tmp_path / "pooled" / "pooled.yaml").write_text("keys: trainer.precision\n")  # no list, no reason
    with pytest.raises(ValueError, match="pooled.yaml: expected"):
        collect_runs(tmp_path / "pooled")


COMMITTED_TABLES = sorted(p.stem for p in (ROOT / "results").glob("table_*.md") if not p.stem.endswith("_claims"))


@pytest.mark.parametrize("name", COMMITTED_TABLES)
def test_every_committed_table_renders_from_its_run_folders(name, tmp_path):
    """results/<table>.md, .csv and _claims.md are what `make table` makes of results/<table>/ today,
    byte for byte: no change to filing, rendering or judging can silently change a published table."""
    from conftest import run_cli

    assert (ROOT / "results" / name).is_dir(), f"results/{name}.md has no run folders beside it"
    proc = run_cli("scripts/make_table.py", [f"runs=results/{name}", f"out={tmp_path}", f"name={name}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    for suffix in (".md", ".csv", "_claims.md"):
        assert (tmp_path / f"{name}{suffix}").read_text() == (ROOT / "results" / f"{name}{suffix}").read_text(), suffix


def test_the_committed_table_b_files_only_table_b_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    col = collect_runs("results/table_b")
    assert col.records and all(r.table == "b" for r in col.records)
    assert not [p for p in col.problems if "not part of any seed table" in p]


def test_settings_added_later_at_their_old_value_do_not_split_seeds(tmp_path):
    """A seed run before `pairing.scale_param` existed and one run after it averaged together;
    a run with FID and one without are seeds of the same model too."""
    fake_run(tmp_path, "s0", ["column=N_N", "seed=0", "callbacks=fidelity"], bound=-100.0)
    path = tmp_path / "s0" / "metrics.json"
    meta = json.loads(path.read_text())
    del meta["config"]["pairing"]["scale_param"], meta["config"]["model"]["net"]["pairing"]["scale_param"]
    path.write_text(json.dumps(meta))
    fake_run(tmp_path, "s1", ["column=N_N", "seed=1"], bound=-102.0)
    fake_run(tmp_path, "logvar", ["column=La_N", "pairing.scale_param=log_variance"], bound=-110.0)
    fake_run(tmp_path, "softplus", ["column=La_N"], bound=-111.0)
    table = cells(collect_runs(tmp_path))
    assert table[("b", "bound", "N||N")].clash == 1 and table[("b", "bound", "N||N")].mean == -101.0
    assert table[("b", "bound", "La||N")].clash == 2  # a non-default value is a different configuration


def test_a_cell_whose_runs_failed_names_why_and_a_clash_counts_its_failures(tmp_path):
    from autovae.paper.render import csv_text, failed_runs, latex

    fake_run(tmp_path, "cc", ["column=C_C"], bound=math.nan, status="failed", reason="diverged",
             error="non-finite test metrics: test/bound_a1_k1")
    fake_run(tmp_path, "la_a", ["column=La_N", "model.optimizer.lr=1e-3"], bound=-110.0)
    fake_run(tmp_path, "la_b", ["column=La_N", "model.optimizer.lr=3e-3"], bound=math.nan, status="failed",
             reason="error", error="RuntimeError: boom")
    fake_run(tmp_path, "nn_a", ["column=N_N", "model.optimizer.lr=1e-3"], bound=-300.0)
    fake_run(tmp_path, "nn_b", ["column=N_N", "model.optimizer.lr=3e-3"], bound=-100.0)
    col = collect_runs(tmp_path)
    md = markdown(col)
    assert markdown_row(md, "(b) L_{1,1}", "C‖C")[1:3] == ["failed (diverged)", "-203.40"]
    assert "clash: 2 configs, 1 of 2 runs failed" in md
    assert any("C||C" in line and "diverged: non-finite test metrics" in line for line in failed_runs(col))
    assert any("La||N" in line and "error: RuntimeError: boom" in line for line in failed_runs(col))
    assert "## Failed runs" in md
    rows = list(csv.DictReader(io.StringIO(csv_text(col))))
    nn = next(r for r in rows if (r["metric"], r["column"]) == ("bound", "N||N"))
    assert nn["ours_mean"] == "" and nn["ours_std"] == "" and "clash" in nn["note"]  # -200 is no one's result
    cc = next(r for r in rows if (r["metric"], r["column"]) == ("bound", "C||C"))
    assert cc["ours_mean"] == "" and cc["note"] == "failed (diverged)"
    assert "-200" not in md and "-200" not in latex(col) and "-200" not in csv_text(col)


def test_a_malformed_record_is_listed_not_fatal(tmp_path):
    fake_run(tmp_path, "good", ["column=N_N"])
    for name, text in (("string_metrics", '{"status": "completed", "config": {}, "metrics": "oops"}'),
                       ("list", "[1, 2]"), ("string_config", '{"status": "completed", "config": "x"}')):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(text)
    col = collect_runs(tmp_path)
    assert len(col.records) == 1
    problems = "\n".join(col.problems)
    for name in ("string_metrics", "list", "string_config"):
        assert f"/{name}: malformed metrics.json" in problems
    markdown(col)


@pytest.mark.parametrize("overrides,epochs,reason", [
    (["trainer.max_steps=5"], 100, "trainer.max_steps=5"),
    (["trainer.limit_train_batches=0.1"], 100, "trainer.limit_train_batches=0.1"),
    (["dataset.train_subset=2000"], 100, "dataset.train_subset=2000"),
    (["dataset.test_subset=300"], 100, "dataset.test_subset=300"),
    ([], 10, "trainer.max_epochs=10"),
])
def test_a_debug_run_is_not_filed_as_the_papers(tmp_path, overrides, epochs, reason):
    fake_run(tmp_path, "debug", ["column=N_N", *overrides], bound=-347.75, epochs=epochs)
    col = collect_runs(tmp_path)
    assert not col.records and "-347" not in markdown(col)
    assert len(col.not_comparable) == 1 and reason in col.not_comparable[0], col.not_comparable
    assert "Not comparable with the paper" in markdown(col)
    assert collect_runs(tmp_path, protocol=False).records  # a smoke test's table can still show it, labelled


def test_a_completed_run_that_stopped_early_is_not_the_papers(tmp_path):
    fake_run(tmp_path, "early", ["column=N_N"], epochs=100)
    path = tmp_path / "early" / "metrics.json"
    path.write_text(path.read_text().replace('"epochs": 100', '"epochs": 7'))
    col = collect_runs(tmp_path)
    assert not col.records and "completed after 7 epochs" in col.not_comparable[0]


def test_every_table_judges_the_order_its_paper_prints(tmp_path):
    """Table (a)'s paper prints Lo||N as its best fixed column and E||N as its worst; table (f) prints "—"
    for E||N and C||C, which then take no part in its claims."""
    from autovae.paper.claims import claims_of, judge

    for column, bound in (("Lo_N", -600.0), ("N_N", -601.0), ("E_N", -640.0), ("C_C", -620.0)):
        fake_run(tmp_path, column, [f"column={column}", "likelihood=mse"], bound=bound)
    verdicts = {claim: verdict for claim, verdict, _ in judge(collect_runs(tmp_path), "a")}
    assert verdicts["Lo‖N is the best fixed column (bound)"] == "held (one seed: noise unknown)"
    assert verdicts["E‖N is the worst column (bound)"] == "held (one seed: noise unknown)"
    assert verdicts["Auto is the best column (bound)"] == "not measured yet"
    texts = [c.text for c in claims_of("f")]
    assert "E‖N" not in " ".join(texts) and "C‖C" not in " ".join(texts)
    assert len([c for c in claims_of("b") if c.text == "Auto is the best column (bound)"]) == 1


@pytest.mark.parametrize("table", "abcdefg")
def test_each_table_experiment_trains_what_its_table_files(table, tmp_path):
    """conf/experiment/table_<x>.yaml and the table's one definition (paper/tables.py) agree: the options it
    composes, the 14 columns it sweeps, and what a run of it trains, which files it in that table."""
    from autovae.paper.collect import facts_of, table_of
    from autovae.paper.tables import COLUMNS, TABLES, column_option

    seed = TABLES[table]
    cfg = compose([f"experiment=table_{table}", f"paths.output_dir={tmp_path}", "trainer.accelerator=cpu", "logger=csv"],
                  return_hydra_config=True)
    assert cfg.hydra.sweeper.params.column.split(",") == [column_option(c) for c in COLUMNS]
    choices = cfg.hydra.runtime.choices
    assert (choices.likelihood, choices.divergence) == (seed.likelihood_option, seed.divergence_option)
    OmegaConf.set_struct(cfg, False)
    del cfg["hydra"]
    model = instantiate(cfg.model)
    payload = {"config": OmegaConf.to_container(cfg, resolve=True),
               "ran": ran_block(model, datamodule_from(cfg), SimpleNamespace(precision="bf16-mixed"), cfg)}
    assert table_of(facts_of(payload)[0]) == (table, "")


def test_the_reproduction_scripts_fixed_columns_are_the_tables_columns_less_auto():
    """scripts/reproduce_table_b.sh sweeps each printed table's fixed columns from one list: that list
    is paper/tables.py's columns without Auto (which a search fills), in any order."""
    import re

    from autovae.paper.tables import COLUMNS, column_option

    script = (ROOT / "scripts" / "reproduce_table_b.sh").read_text()
    fixed = re.search(r"^FIXED13=(\S+)$", script, re.M).group(1).split(",")
    assert sorted(fixed) == sorted(column_option(c) for c in COLUMNS if c != "Auto")
    assert len(fixed) == len(set(fixed))


@pytest.mark.parametrize("overrides", [["likelihood=mse"], ["likelihood=mae"], ["likelihood=beta"],
                                       ["likelihood=normal"], ["divergence=iwae"], ["divergence=renyi"],
                                       ["divergence=beta_kl", "divergence.beta=4"], ["divergence=renyi", "divergence.alpha=-inf"]])
def test_a_record_without_ran_is_filed_as_the_same_record_with_it(tmp_path, overrides):
    """Before the `ran` block, what trained is read from the recorded config: the same likelihood and
    objective, and so the same table, cell and units, as the run's own record would say."""
    fake_run(tmp_path / "new", "r", ["column=N_N", *overrides], bound=-600.0)
    fake_run(tmp_path / "old", "r", ["column=N_N", *overrides], bound=-600.0, old=True)
    from autovae.paper.collect import facts_of

    new = json.loads((tmp_path / "new" / "r" / "metrics.json").read_text())
    old = json.loads((tmp_path / "old" / "r" / "metrics.json").read_text())
    for key in ("likelihood", "objective"):
        assert facts_of(old)[0][key] == facts_of(new)[0][key], key
    filed = [[(r.table, r.column, r.values["bound"]) for r in collect_runs(tmp_path / d).records] for d in ("new", "old")]
    assert filed[0] == filed[1]
