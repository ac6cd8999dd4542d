"""scripts/figures.py refuses a folder with nothing to plot instead of writing an empty figure."""
import pytest
from conftest import run_cli


def test_a_folder_without_finished_runs_writes_no_figure(tmp_path):
    for kind in ("flows", "hebae_fig1", "hebae_fig2"):
        proc = run_cli("scripts/figures.py", [kind, f"runs={tmp_path / 'nonexistent'}"], cwd=tmp_path)
        assert proc.returncode == 1 and "nothing to plot" in proc.stderr, proc.stderr[-1000:]
    assert not list(tmp_path.rglob("*.png"))


def test_hebae_figures_draw_the_refitted_bound_and_tell_runs_apart(tmp_path):
    from autovae.paper.figures import bound_key, run_label

    hebae, vae = tmp_path / "hebae", tmp_path / "vae"
    for folder, header in ((hebae, "epoch,step,val/elbo,val/elbo_refit"), (vae, "epoch,step,val/elbo")):
        (folder / "csv").mkdir(parents=True)
        (folder / "csv" / "metrics.csv").write_text(header + "\n0,10,-200,-150\n")
    assert bound_key(hebae) == "val/elbo_refit" and bound_key(vae) == "val/elbo"
    facts = {"model": "HEBAE", "variant": "official", "posterior_scale_refit": {"applied": True}}
    assert run_label(facts, {"config": {"seed": 1}}, True) == "HEBAE (official), scale refitted, seed 1"
    assert run_label({"model": "VAE"}, {"config": {}}, False) == "VAE"


def test_renyi_curves_of_runs_that_share_a_pairing_are_all_drawn():
    from omegaconf import OmegaConf

    from autovae.paper.plots import curve_label

    renyi = OmegaConf.create({"seed": 0, "divergence": {"_target_": "autovae.inference.objectives.RenyiBound", "alpha": 0.5,
                                                        "samples": 5}})
    kl = OmegaConf.create({"seed": 1, "divergence": {"_target_": "autovae.inference.objectives.ELBO"}})
    curves = {}
    for cfg in (kl, renyi, renyi, kl):
        curves[curve_label(cfg, "N||N", curves)] = [0.0]
    assert list(curves) == ["N||N", "N||N, RenyiBound α=0.5 K=5", "N||N, RenyiBound α=0.5 K=5, seed 0", "N||N, seed 1"]


@pytest.mark.parametrize("folder", ["flows", "flows_binarized"])
def test_the_committed_flow_figure_is_what_its_committed_runs_render(tmp_path, folder):
    """results/<folder>/flows.png and .json come from the committed run folders by scripts/figures.py."""
    import json

    from conftest import ROOT

    committed = ROOT / "results" / folder
    out = tmp_path / "flows.png"
    proc = run_cli("scripts/figures.py", ["flows", f"runs={committed}", f"out={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads((committed / "flows.json").read_text())
    assert out.stat().st_size > 5000


def test_the_fig2_numbers_name_their_runs_relative_to_the_file(data_dir, tmp_path):
    """hebae_fig2.json is committed beside its runs: its keys must not be this machine's absolute paths.
    A run that did not record its latent statistics is measured from its weights."""
    import json

    from conftest import compose, tiny_overrides

    from autovae.app.train import build, run
    from autovae.paper.figures import finished_runs, hebae_fig2

    run_dir = (tmp_path / "fig2" / "hebae" / "seed_0").resolve()
    cfg = compose(tiny_overrides(data_dir, run_dir, "model=hebae", "trainer.max_steps=3", "callbacks.images=null",
                                 "evaluation.bounds=[]", "model.scale_refit.steps=5"))
    run(cfg)
    images = build(cfg)[1]
    images.setup("test")
    out = tmp_path / "fig2" / "hebae_fig2.png"
    hebae_fig2(finished_runs(tmp_path / "fig2"), out, images.test_data[:200])
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert list(numbers) == ["hebae/seed_0"] and numbers["hebae/seed_0"]["model"] == "HEBAE"
    assert 0 <= numbers["hebae/seed_0"]["mean_mic"] <= 1


def test_the_renyi_figure_writes_its_numbers_beside_it(data_dir, tmp_path):
    """plots.py renyi on a Rényi-trained run: the bound at each order in renyi.json, keyed by the run's folder."""
    import json
    import math

    from conftest import compose, tiny_overrides

    from autovae.app.train import run

    run_dir = tmp_path / "renyi" / "alpha_0.5" / "seed_0"
    run(compose(tiny_overrides(data_dir, run_dir, "divergence=renyi", "divergence.samples=2", "trainer.max_steps=20",
                               "callbacks.images=null", "evaluation.bounds=[]")))
    out = tmp_path / "renyi" / "renyi.png"
    proc = run_cli("scripts/plots.py", ["renyi", f"run={run_dir}", "samples=20", "images=100", f"out={out}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert list(numbers["runs"]) == ["alpha_0.5/seed_0"] and numbers["samples"] == 20 and numbers["images"] == 100
    bounds = dict(zip(numbers["alphas"], numbers["runs"]["alpha_0.5/seed_0"]["bounds"]))
    assert all(math.isfinite(b) for b in bounds.values()) and out.exists()
    assert bounds[0.0] > bounds[1.0]  # the IWAE bound L_{0,20} lies above the ELBO of the same model


def test_runs_at_one_lambda_and_several_latent_sizes_make_no_lambda_curve():
    """Fig. 1a top's runs (k = 2 and 5, both at lambda = 1) are not a bound-against-lambda curve; a
    lambda sweep at one k is one curve per model, in lambda order."""
    from autovae.paper.figures import lambda_curves

    def run(model, k, lam, elbo):
        return None, {"ran": {"model": model, "latent_dim": k, "objective": {"beta": lam}},
                      "config": {"seed": 0}, "metrics": {"test/elbo": elbo}}

    assert lambda_curves([run("VAE", 2, 1.0, -137.0), run("VAE", 5, 1.0, -114.0)]) == {}
    sweep = [run("VAE", 10, 2.0, -120.0), run("VAE", 10, 0.1, -150.0), run("HEBAE", 10, 1.0, -110.0)]
    assert lambda_curves(sweep) == {"VAE": [(0.1, -150.0), (2.0, -120.0)]}
    both = [*sweep, run("VAE", 5, 1.0, -114.0), run("VAE", 5, 0.5, -116.0)]
    assert lambda_curves(both) == {"VAE, k = 10": [(0.1, -150.0), (2.0, -120.0)], "VAE, k = 5": [(0.5, -116.0), (1.0, -114.0)]}


@pytest.mark.parametrize("folder", ["fig1_epochs", "fig1_lambda"])
def test_the_committed_hebae_fig1_is_what_its_committed_runs_render(tmp_path, folder):
    """results/hebae/<folder>/hebae_fig1.png and .json come from the committed run folders."""
    import json

    from conftest import ROOT

    committed = ROOT / "results" / "hebae" / folder
    out = tmp_path / "hebae_fig1.png"
    proc = run_cli("scripts/figures.py", ["hebae_fig1", f"runs={committed}", f"out={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads((committed / "hebae_fig1.json").read_text())
    assert out.stat().st_size > 5000


def test_the_committed_hebae_fig2_from_recorded_statistics_is_what_its_runs_render(tmp_path):
    """results/hebae/fig2_fid10k/hebae_fig2.{png,json} come from the latent statistics its runs recorded
    (no weights are committed); its keys are relative to the figure, so it is drawn beside a copy."""
    import json
    import shutil

    from conftest import ROOT

    committed = ROOT / "results" / "hebae" / "fig2_fid10k"
    copy = tmp_path / "fig2_fid10k"
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("*.png", "*.json", "images"),
                    dirs_exist_ok=False)
    for run in committed.glob("*/seed_*"):
        shutil.copy(run / "metrics.json", copy / run.relative_to(committed) / "metrics.json")
    out = copy / "hebae_fig2.png"
    proc = run_cli("scripts/figures.py", ["hebae_fig2", f"runs={copy}", f"out={out}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    numbers = json.loads(out.with_suffix(".json").read_text())
    assert numbers == json.loads((committed / "hebae_fig2.json").read_text())
    assert all(row["mean_mic"] > 0 and row["mean_tic"] > 0 for row in numbers.values()), numbers
