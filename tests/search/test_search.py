"""AutoVAE search: a small study end to end, shared storage for several workers, pruning, failures."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import ROOT, TINY, run_cli
from optuna.trial import TrialState

from autovae.search.space import SearchSpace, fixed_parts, valid_pairs
from autovae.search.study import OBJECTIVES, SearchSpaceError, check_comparable, make_storage, recover_stale_trials

SMALL = [a for a in TINY if not a.startswith("trainer.max_epochs")] + [
    "trainer.max_epochs=2", "callbacks.images=null", "dataset.train_subset=1000", "dataset.test_subset=200",
    "search.space.likelihoods=[bernoulli]", "search.space.samples=[1, 3]"]


def search_args(tmp_path, data_dir, *extra):
    return [*SMALL, f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}", *extra]


def load(tmp_path, name):
    storage = make_storage(None, tmp_path / "search", name, 60, 120, 0)
    return optuna.load_study(study_name=name, storage=storage)


def test_valid_pairs_exclude_infinite_kl():
    pairs = valid_pairs()
    assert "cauchy||normal" not in pairs and "cauchy||cauchy" in pairs and "logistic||normal" in pairs
    assert len(pairs) == 7 * 5 - 4


def test_command_line_overrides_fix_parts_of_the_space():
    assert fixed_parts(["likelihood=mse", "posterior=laplace", "trainer.max_epochs=3"]) == {"likelihood", "pairing"}
    trial = optuna.create_study().ask()
    over = SearchSpace(latent_dim=4, fixed={"likelihood", "pairing"}).overrides(trial)
    assert not any(o.startswith(("likelihood", "pairing")) for o in over)


def test_searching_likelihoods_by_a_density_is_refused():
    several = SearchSpace(latent_dim=4, likelihoods=("bernoulli", "beta"))
    for objective in ("bound", "iwae", "nll"):
        with pytest.raises(SearchSpaceError, match="densities of different likelihoods"):
            check_comparable([objective], several)
    check_comparable(["fid"], several)  # comparable across likelihoods
    check_comparable(["bound"], SearchSpace(latent_dim=4))  # the default space fixes the likelihood
    check_comparable(["bound"], SearchSpace(latent_dim=4, likelihoods=("bernoulli", "beta"), fixed={"likelihood"}))
    assert all(key.startswith("val/") for key, _ in OBJECTIVES.values())  # the test set never selects


def test_default_search_refuses_before_training_when_told_to_search_likelihoods(tmp_path, data_dir):
    proc = run_cli("search.py", search_args(tmp_path, data_dir, "search.space.likelihoods=[bernoulli,beta]",
                                            "search.n_trials=1"))
    assert proc.returncode != 0 and "densities of different likelihoods" in proc.stderr
    assert not list(tmp_path.rglob("metrics.json"))  # nothing trained


def test_fraction_encoding_writes_a_mixture_that_sums_to_one():
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1)).ask()
    over = SearchSpace(latent_dim=20, encoding="fractions", pair_types=3).overrides(trial)
    comps = trial.user_attrs["pairing"]
    assert over[0] == "pairing=mixture" and abs(sum(c["fraction"] for c in comps) - 1) < 1e-9
    assert all(round(c["fraction"] * 20, 6).is_integer() for c in comps)


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_small_study_and_its_best_pairing_retrains_by_hand(tmp_path, data_dir):
    proc = run_cli("search.py", search_args(tmp_path, data_dir, "search.study_name=s", "search.n_trials=3",
                                            "search.sampler=random", "search.seed=0", "search.pruner=none"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Best trial" in proc.stdout and "Re-run by hand" in proc.stdout
    out = proc.stdout + proc.stderr
    assert all(f"trial {k} of 3 " in out for k in (1, 2, 3)) and "best so far: none yet" in out  # where it stands
    assert "best so far: -" in out.split("trial 3 of 3", 1)[1].split("\n")[0]
    assert (proc.stdout + proc.stderr).count("GPU available") == 3  # Lightning's lines once per trial
    study = load(tmp_path, "s")
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    best = study.best_trial
    trial_run = json.loads((Path(best.user_attrs["run_dir"]) / "metrics.json").read_text())
    assert not [k for k in trial_run["metrics"] if k.startswith("test/")]  # the test set chooses nothing
    assert not [k for k in best.user_attrs["metrics"] if k.startswith("test/")]
    table = run_cli("scripts/make_table.py", [f"runs={tmp_path / 'none'}", "study=s", f"log_dir={tmp_path}",
                                              f"out={tmp_path}", "protocol=any"])
    assert table.returncode == 0 and "evaluated the validation split only" in table.stderr, table.stderr[-2000:]
    report = run_cli("scripts/search_report.py", ["search.study_name=s", f"paths.log_dir={tmp_path}"])
    assert report.returncode == 0, report.stderr[-2000:]
    report_dir = tmp_path / "search" / "s" / "report"
    assert (report_dir / "history.png").exists()
    # the best trial re-run by hand: same config, same seed, same result
    by_hand = tmp_path / "by_hand"
    proc = run_cli("train.py", [*best.user_attrs["overrides"], f"paths.data_dir={data_dir}",
                                f"paths.log_dir={tmp_path}", f"hydra.run.dir={by_hand}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((by_hand / "metrics.json").read_text())
    assert again["config"]["pairing"] == trial_run["config"]["pairing"]
    assert again["metrics"]["val/elbo"] == pytest.approx(best.value, abs=1e-3)
    # its pairing as the searched column of a table's sweep (the table fixes the objective): filed as Auto
    retrained = tmp_path / "retrained" / "auto"
    base = [a for a in search_args(tmp_path, data_dir) if not a.startswith("search.")]
    proc = run_cli("train.py", [*base, "column=searched", f"hydra.searchpath=[file://{report_dir}]",
                                f"hydra.run.dir={retrained}"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    again = json.loads((retrained / "metrics.json").read_text())
    assert again["config"]["pairing"] == trial_run["config"]["pairing"] and again["config"]["column"] == "Auto"
    table = run_cli("scripts/make_table.py", [f"runs={tmp_path / 'retrained'}", f"out={tmp_path}", "protocol=any"])
    assert table.returncode == 0, table.stderr[-2000:]
    import csv

    rows = [r for r in csv.DictReader((tmp_path / "table.csv").open()) if r["column"] == "Auto" and r["metric"] == "bound"]
    assert rows and float(rows[0]["ours_mean"]) == pytest.approx(again["metrics"]["test/bound_a1_k1"])


def _two_workers(tmp_path, data_dir, extra):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    args = search_args(tmp_path, data_dir, "search.n_trials=4", "search.sampler=random", "search.pruner=none",
                       "trainer.max_epochs=1", *extra)
    procs = [subprocess.Popen([sys.executable, str(ROOT / "search.py"), *args, f"search.seed={i}"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]


def _check_shared_study(study):
    trials = [t for t in study.get_trials() if not t.user_attrs.get("over_budget")]
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(trials)  # none duplicated
    assert len(trials) == 4  # exactly search.n_trials, however the two workers raced
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["run_dir"] for t in trials}) == len(trials)
    assert len({t.user_attrs["pid"] for t in trials}) == 2  # both workers took trials


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_two_workers_share_a_journal_file(tmp_path, data_dir):
    _two_workers(tmp_path, data_dir, ["search.study_name=j"])
    _check_shared_study(load(tmp_path, "j"))


def _pg_bin(name):
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    return str(found) if found else None


@pytest.fixture
def postgres(tmp_path):
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries not found (install the 'postgresql' package; .ci/run does)")
    psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="autovae-pg-"))  # pytest's tmp dirs are private to root
    os.chmod(top, 0o755)
    data = top / "data"
    data.mkdir()
    as_user = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if as_user:  # the server refuses to run as root
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            pytest.skip("running as root and no 'postgres' user to run the server")
        shutil.chown(data, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-w", "-l", str(data / "log"), "-o",
                    f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres", autocommit=True)
        conn.cursor().execute("CREATE DATABASE autovae")
        conn.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/autovae"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.slow  # end to end; still runs in CI (deselect with -m "not slow")
def test_two_workers_share_a_postgresql_study(tmp_path, data_dir, postgres):
    _two_workers(tmp_path, data_dir, ["search.study_name=pg", f"search.storage={postgres}"])
    _check_shared_study(optuna.load_study(study_name="pg", storage=postgres))


def test_pruner_stops_bad_trials(tmp_path, data_dir):
    proc = run_cli("search.py", search_args(
        tmp_path, data_dir, "search.study_name=p", "search.n_trials=6", "search.sampler=random", "search.seed=3",
        "search.pruner=median", "search.startup_trials=1", "trainer.max_epochs=4", "search.space.lr=[1e-6, 1e-2]"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load(tmp_path, "p").get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in trials]
    assert all(len(t.intermediate_values) < 4 for t in pruned)  # stopped before the last epoch


def test_diverging_trials_fail_and_the_study_goes_on(tmp_path, data_dir):
    proc = run_cli("search.py", search_args(
        tmp_path, data_dir, "search.study_name=n", "search.n_trials=2", "model.optimizer.lr=1e12",
        "model.nan_check_every=1", "search.space.likelihoods=[normal]"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    trials = load(tmp_path, "n").get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert all("not finite" in t.user_attrs["error"] for t in trials)


def test_trial_of_a_dead_worker_is_requeued(tmp_path):
    storage = make_storage(None, tmp_path, "stale", 60, 120, 0)
    study = optuna.create_study(study_name="stale", storage=storage)
    trial = study.ask({"alpha": optuna.distributions.CategoricalDistribution([0.0, 1.0])})
    trial.set_user_attr("host", socket.gethostname())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial.set_user_attr("pid", dead.pid)
    assert recover_stale_trials(study) == 1
    assert study.get_trials()[0].state == TrialState.FAIL
    retry = study.get_trials()[1]
    assert retry.state == TrialState.WAITING and retry.system_attrs["fixed_params"] == trial.params


def test_a_killed_trial_does_not_use_a_slot(tmp_path):
    """n_trials counts trials that finished on their own; a killed one is retried in its slot."""
    from autovae.search.study import OverBudget, admit, counted_trials

    study = optuna.create_study(study_name="slots", storage=make_storage(None, tmp_path, "slots", 60, 120, 0))
    dist = {"alpha": optuna.distributions.CategoricalDistribution([0.0, 1.0])}
    killed = study.ask(dist)
    killed.set_user_attr("host", socket.gethostname())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed.set_user_attr("pid", dead.pid)
    done = study.ask(dist)
    study.tell(done, 1.0)
    assert recover_stale_trials(study) == 1
    assert len(counted_trials(study)) == 1  # the killed trial is not counted
    retry = study.ask()  # takes the re-queued parameters
    admit(retry, n_trials=2)  # slot 2 of 2
    study.tell(retry, 0.5)
    late = study.ask(dist)
    with pytest.raises(OverBudget):
        admit(late, n_trials=2)
    assert len(counted_trials(study)) == 2


def test_a_trial_is_a_wandb_run_grouped_by_its_study(tmp_path, data_dir):
    """A trial's W&B run is grouped by study and named by trial number; its dashboard keys carry both."""
    from conftest import CONF, compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from autovae.lightning.loggers import dashboard_config
    from autovae.search.study import TrialObjective

    base = ["logger=wandb", f"paths.data_dir={data_dir}", f"paths.log_dir={tmp_path}"]
    cfg = compose([*base, "search.study_name=grouped"], config_name="search")
    space = SearchSpace(latent_dim=cfg.model.net.latent_dim, fixed=fixed_parts(base),
                        **OmegaConf.to_container(cfg.search.space, resolve=True))
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        composed = TrialObjective(cfg, base, space, ["bound"]).trial_config(trial)
    assert composed.logger.wandb.group == "search-grouped" and composed.logger.wandb.job_type == "search-trial"
    assert composed.logger.wandb.name == "grouped-trial_0000"
    assert "evaluation.test=false" in trial.user_attrs["overrides"]
    flat = dashboard_config(OmegaConf.to_container(composed, resolve=True), {"pairing": []})
    assert (flat["study"], flat["trial"]) == ("grouped", 0)
